//! Scheduled re-checks: when each stored key is due for another connection test, which keys a
//! cron run picks, and what a row remembers about its failures.
//!
//! A key is checked again `interval(status)` after its last check (any test that ran, whatever
//! it concluded), so a run that finds nothing due costs nothing. The interval depends on the
//! status and on the catalog entry's [`Recheck`] cadence: connected keys daily (a key can be
//! revoked at the provider), unverified keys hourly (nothing has concluded about them yet),
//! invalid keys daily (a revoked key may come back), keys that are not there never. A check
//! that could not conclude (rate limit, provider down) is retried sooner, backing off from
//! [`RETRY_BASE_MS`] and never later than the status's own interval.
//!
//! Each row stores when it is next due ([`stored_next_check`], the `next_check_at` column,
//! indexed), so a cron run reads only rows whose time has come, however many keys are stored.
//! That stored time is a pre-filter written with the entry as it was: the run asks [`triage`]
//! which rows are due under the entry as it is now, queues those, and stores a new time for
//! the others.
//!
//! Sans-I/O: the Worker reads the rows, [`triage`] decides, the Worker queues and writes.

use serde::{Deserialize, Serialize};

use crate::status::{Finding, Status};

pub const HOUR_MS: u64 = 3_600_000;
/// The first retry after an inconclusive check; each further one doubles, up to the interval.
pub const RETRY_BASE_MS: u64 = 15 * 60_000;
/// The longest cadence an entry may set (a year).
pub const MAX_HOURS: u32 = 8_760;

/// How often a provider's stored keys are re-tested, in hours per status; 0 is never. The
/// catalog entry's optional `recheck` field; each part has its default when absent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recheck {
    #[serde(default = "Recheck::daily")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 8760))]
    pub connected_hours: u32,
    #[serde(default = "Recheck::hourly")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 8760))]
    pub unverified_hours: u32,
    #[serde(default = "Recheck::daily")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 8760))]
    pub invalid_hours: u32,
}

impl Default for Recheck {
    fn default() -> Self {
        Self {
            connected_hours: Self::daily(),
            unverified_hours: Self::hourly(),
            invalid_hours: Self::daily(),
        }
    }
}

impl Recheck {
    fn daily() -> u32 {
        24
    }
    fn hourly() -> u32 {
        1
    }

    /// How long after its last check a key in `status` is due again (`None`: never).
    pub fn interval_ms(&self, status: Status) -> Option<u64> {
        let hours = match status {
            Status::Disconnected => 0,
            Status::Connected => self.connected_hours,
            Status::Unverified => self.unverified_hours,
            Status::Invalid => self.invalid_hours,
        };
        (hours > 0).then(|| u64::from(hours) * HOUR_MS)
    }

    /// The parts over [`MAX_HOURS`], by field name.
    pub fn out_of_range(&self) -> Vec<&'static str> {
        [
            ("connected_hours", self.connected_hours),
            ("unverified_hours", self.unverified_hours),
            ("invalid_hours", self.invalid_hours),
        ]
        .into_iter()
        .filter(|(_, h)| *h > MAX_HOURS)
        .map(|(name, _)| name)
        .collect()
    }

    /// The shortest interval any status can have (what a storage query may pre-filter on).
    pub fn shortest_ms(&self) -> Option<u64> {
        [Status::Connected, Status::Unverified, Status::Invalid]
            .into_iter()
            .filter_map(|s| self.interval_ms(s))
            .min()
    }
}

/// The cadence a provider's stored keys are re-checked at: the entry's own (or the default)
/// when it has a test plugin; `None` when it has none. Without a plugin a re-check cannot
/// conclude anything: it would only write an audit row and an "unverified" answer, hourly, for
/// every key.
pub fn cadence(entry_recheck: Option<Recheck>, has_test_plugin: bool) -> Option<Recheck> {
    has_test_plugin.then(|| entry_recheck.unwrap_or_default())
}

/// What a row remembers about its key's recent checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// When the current run of failed checks (rejected or inconclusive) began; `None` when
    /// the last conclusive check passed or the key is new.
    pub failing_since_ms: Option<u64>,
    /// Inconclusive checks in a row since the last conclusive one.
    pub transient_failures: u32,
}

impl Health {
    /// After a test that found `finding` at `now`.
    pub fn after(self, finding: Finding, now_ms: u64) -> Health {
        match finding {
            Finding::Passed => Health::default(),
            Finding::Rejected => Health {
                failing_since_ms: Some(self.failing_since_ms.unwrap_or(now_ms)),
                transient_failures: 0,
            },
            Finding::Inconclusive => Health {
                failing_since_ms: Some(self.failing_since_ms.unwrap_or(now_ms)),
                transient_failures: self.transient_failures.saturating_add(1),
            },
        }
    }
}

/// A stored key as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub status: Status,
    /// The last test of this key that ran (any verdict); `None`: never tested.
    pub checked_at_ms: Option<u64>,
    /// When the key was stored or last changed (the base when it was never tested).
    pub changed_at_ms: u64,
    pub health: Health,
    /// When the key expires, if it does ([`crate::expiry`]): checks tighten near it.
    pub expires_at_ms: Option<u64>,
}

/// When `w` is next due under `cadence` (`None`: never).
pub fn next_check_ms(w: &Watch, cadence: &Recheck) -> Option<u64> {
    let interval = cadence.interval_ms(w.status)?;
    let base = w.checked_at_ms.unwrap_or(w.changed_at_ms);
    let wait = match w.health.transient_failures {
        0 => interval,
        n => RETRY_BASE_MS
            .saturating_mul(1u64 << (n - 1).min(20))
            .min(interval),
    };
    let by_cadence = base.saturating_add(wait);
    // Near its expiry a key is checked more often, and once as soon as it has expired.
    let by_expiry = w
        .expires_at_ms
        .and_then(|at| crate::expiry::check_by_ms(at, base));
    Some(by_expiry.map_or(by_cadence, |at| at.min(by_cadence)))
}

/// Whether `w` is due at `now`.
pub fn is_due(w: &Watch, cadence: &Recheck, now_ms: u64) -> bool {
    next_check_ms(w, cadence).is_some_and(|at| at <= now_ms)
}

/// How long a key whose entry gives it no check now (the entry is retired or has no test
/// plugin, or its cadence switches this status off) waits before the cron looks at it again.
/// Parking it for a day, rather than for ever, means an entry that gains a plugin or a
/// cadence, or is restored, has its keys picked up within a day without any scan of the
/// table by provider.
pub const PARKED_MS: u64 = 24 * HOUR_MS;

/// The time stored in a row's `next_check_at`, the column a cron run selects on: when `w` is
/// next due under `cadence`; a parked key ([`PARKED_MS`]) when the entry gives it none; `None`
/// only for a row without a key, which nothing but a save can make checkable (and a save
/// stores its own time).
pub fn stored_next_check(w: &Watch, cadence: Option<&Recheck>, now_ms: u64) -> Option<u64> {
    if w.status == Status::Disconnected {
        return None;
    }
    Some(
        cadence
            .and_then(|c| next_check_ms(w, c))
            .unwrap_or(now_ms.saturating_add(PARKED_MS)),
    )
}

/// What a cron run does with the rows storage found due by their stored `next_check_at`.
#[derive(Debug, PartialEq, Eq)]
pub struct Triage<T> {
    /// Due now: queued, most overdue first, at most the run's limit.
    pub due: Vec<T>,
    /// Not due after all (the entry's cadence changed, it was retired or lost its plugin, or
    /// the row was stored before the column existed): the time to store instead, so the row
    /// leaves the run's selection. Always later than now, or `None` for a row without a key.
    pub reschedule: Vec<(T, Option<u64>)>,
}

/// Sorts the rows a run read (each with its watch, or `None` when its stored status cannot be
/// read, and its entry's cadence, `None` when the entry gives it none) into those due now and
/// those to reschedule. Due rows past `limit` are in neither: they stay due for the next run.
/// The stored time is only a pre-filter; this decides exactly, from the entry as it is now.
pub fn triage<T>(
    candidates: impl IntoIterator<Item = (T, Option<Watch>, Option<Recheck>)>,
    now_ms: u64,
    limit: usize,
) -> Triage<T> {
    let mut due: Vec<(u64, T)> = Vec::new();
    let mut reschedule = Vec::new();
    for (item, watch, cadence) in candidates {
        let Some(w) = watch else {
            reschedule.push((item, Some(now_ms.saturating_add(PARKED_MS))));
            continue;
        };
        match stored_next_check(&w, cadence.as_ref(), now_ms) {
            Some(at) if at <= now_ms => due.push((at, item)),
            later => reschedule.push((item, later)),
        }
    }
    due.sort_by_key(|(at, _)| *at);
    Triage {
        due: due.into_iter().take(limit).map(|(_, item)| item).collect(),
        reschedule,
    }
}

/// One queued re-check: which key, as it was when it was picked. A consumer skips it when
/// the row's `updated_at` has moved since (a save, a test or another check got there first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecheckMessage {
    pub tenant: String,
    pub provider: String,
    pub updated_at: String,
    /// Set when an AI function reported the key failing with this provider status (a usage
    /// report's re-test); absent for the scheduler's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_status: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_764_000_000_000;

    fn watch(status: Status, checked_ago_h: Option<u64>) -> Watch {
        Watch {
            status,
            checked_at_ms: checked_ago_h.map(|h| NOW - h * HOUR_MS),
            changed_at_ms: NOW - 1_000 * HOUR_MS,
            health: Health::default(),
            expires_at_ms: None,
        }
    }

    #[test]
    fn a_key_near_its_expiry_is_checked_hourly_and_once_it_has_expired() {
        let c = Recheck::default();
        let mut w = watch(Status::Connected, Some(2));
        assert!(
            !is_due(&w, &c, NOW),
            "a connected key checked 2 h ago is not due"
        );
        w.expires_at_ms = Some(NOW + 5 * HOUR_MS);
        assert!(is_due(&w, &c, NOW), "in its last day: hourly");
        let mut w = watch(Status::Connected, Some(0));
        w.expires_at_ms = Some(NOW + 10 * 60_000);
        assert_eq!(next_check_ms(&w, &c), Some(NOW + 10 * 60_000), "at expiry");
        w.expires_at_ms = Some(NOW - 1);
        assert_eq!(
            next_check_ms(&w, &c),
            Some(NOW + 24 * HOUR_MS),
            "after it: as before"
        );
    }

    #[test]
    fn default_cadence_is_daily_hourly_daily_and_never_without_a_key() {
        let c = Recheck::default();
        assert!(!is_due(&watch(Status::Connected, Some(23)), &c, NOW));
        assert!(is_due(&watch(Status::Connected, Some(24)), &c, NOW));
        assert!(is_due(&watch(Status::Unverified, Some(1)), &c, NOW));
        assert!(!is_due(&watch(Status::Invalid, Some(12)), &c, NOW));
        assert!(is_due(&watch(Status::Invalid, Some(25)), &c, NOW));
        assert!(!is_due(&watch(Status::Disconnected, Some(10_000)), &c, NOW));
        assert!(
            is_due(&watch(Status::Connected, None), &c, NOW),
            "never tested: counted from when it was stored"
        );
    }

    #[test]
    fn an_entry_may_change_or_switch_off_each_part() {
        let c: Recheck = serde_json::from_str(r#"{"invalid_hours": 0, "connected_hours": 6}"#)
            .expect("parts default");
        assert_eq!(c.unverified_hours, 1);
        assert!(!is_due(&watch(Status::Invalid, Some(10_000)), &c, NOW));
        assert!(is_due(&watch(Status::Connected, Some(6)), &c, NOW));
        assert!(serde_json::from_str::<Recheck>(r#"{"daily": 1}"#).is_err());
        assert_eq!(
            Recheck {
                connected_hours: MAX_HOURS + 1,
                ..Recheck::default()
            }
            .out_of_range(),
            vec!["connected_hours"]
        );
    }

    #[test]
    fn an_inconclusive_check_is_retried_sooner_backing_off() {
        let c = Recheck::default();
        let mut w = watch(Status::Connected, Some(0));
        let mut waits = Vec::new();
        for n in 1..=8 {
            w.health.transient_failures = n;
            waits.push(next_check_ms(&w, &c).map(|at| (at - NOW) / 60_000));
        }
        assert_eq!(
            waits,
            [15, 30, 60, 120, 240, 480, 960, 1440].map(Some).to_vec()
        );
    }

    #[test]
    fn health_tracks_the_current_run_of_failures() {
        let h = Health::default()
            .after(Finding::Inconclusive, 10)
            .after(Finding::Inconclusive, 20);
        assert_eq!(
            h,
            Health {
                failing_since_ms: Some(10),
                transient_failures: 2
            }
        );
        let h = h.after(Finding::Rejected, 30);
        assert_eq!(
            h,
            Health {
                failing_since_ms: Some(10),
                transient_failures: 0
            }
        );
        assert_eq!(h.after(Finding::Passed, 40), Health::default());
    }

    use crate::status::any_status as status;

    fn candidate() -> impl Strategy<Value = (Watch, Recheck)> {
        (
            status(),
            proptest::option::of(0u64..2_000 * HOUR_MS),
            0u64..2_000 * HOUR_MS,
            0u32..12,
            (0u32..48, 0u32..48, 0u32..48),
        )
            .prop_map(|(status, checked_ago, changed_ago, transient, (c, u, i))| {
                (
                    Watch {
                        status,
                        checked_at_ms: checked_ago.map(|a| NOW - a),
                        changed_at_ms: NOW - changed_ago,
                        health: Health {
                            failing_since_ms: None,
                            transient_failures: transient,
                        },
                        expires_at_ms: None,
                    },
                    Recheck {
                        connected_hours: c,
                        unverified_hours: u,
                        invalid_hours: i,
                    },
                )
            })
    }

    proptest! {
        /// A key checked at `t` is not due again before `t` plus its interval (or its backoff
        /// after an inconclusive check), and backing off never waits longer than the interval.
        #[test]
        fn nothing_is_checked_again_too_soon((w, c) in candidate()) {
            if let (Some(at), Some(interval)) = (next_check_ms(&w, &c), c.interval_ms(w.status)) {
                let base = w.checked_at_ms.unwrap_or(w.changed_at_ms);
                prop_assert!(at <= base + interval);
                let floor = if w.health.transient_failures == 0 { interval } else { RETRY_BASE_MS.min(interval) };
                prop_assert!(at >= base + floor);
            } else {
                prop_assert!(next_check_ms(&w, &c).is_none());
            }
        }
    }

    proptest! {
        /// Every row a run reads ends in exactly one place: queued (due by the entry as it is
        /// now, most overdue first), rescheduled to a time after now (or to none, only for a
        /// row without a key), or left due for the next run because the run is full. So a
        /// row the stored time wrongly calls due leaves the selection, and none is lost.
        #[test]
        fn triage_queues_what_is_due_and_moves_the_rest_out_of_the_selection(
            cands in proptest::collection::vec((candidate(), any::<bool>(), any::<bool>()), 0..60),
            limit in 0usize..40,
        ) {
            let rows: Vec<_> = cands
                .iter()
                .enumerate()
                .map(|(i, ((w, c), readable, has_cadence))| {
                    (i, readable.then_some(*w), has_cadence.then_some(*c))
                })
                .collect();
            let t = triage(rows.clone(), NOW, limit);
            prop_assert!(t.due.len() <= limit);
            let mut seen = std::collections::HashSet::new();
            let mut last = 0u64;
            for &i in &t.due {
                prop_assert!(seen.insert(i));
                let (_, w, c) = &rows[i];
                let at = next_check_ms(&w.expect("due rows are readable"), &c.expect("and have a cadence"))
                    .expect("due means a next check");
                prop_assert!(at <= NOW && at >= last);
                last = at;
            }
            for (i, at) in &t.reschedule {
                prop_assert!(seen.insert(*i), "in one place only");
                let (_, w, c) = &rows[*i];
                match at {
                    Some(at) => prop_assert!(*at > NOW, "rescheduled rows leave the selection"),
                    None => prop_assert_eq!(w.map(|w| w.status), Some(Status::Disconnected)),
                }
                if let (Some(w), Some(c)) = (w, c) {
                    prop_assert!(!is_due(w, c, NOW), "nothing due is pushed back");
                }
            }
            let due = rows
                .iter()
                .filter(|(_, w, c)| matches!((w, c), (Some(w), Some(c)) if is_due(w, c, NOW)))
                .count();
            prop_assert_eq!(t.due.len(), due.min(limit));
            prop_assert_eq!(seen.len() + (due - t.due.len()), rows.len());
        }
    }

    #[test]
    fn a_key_its_entry_gives_no_check_is_parked_for_a_day_and_a_key_less_row_for_ever() {
        let w = watch(Status::Connected, Some(1));
        assert_eq!(stored_next_check(&w, None, NOW), Some(NOW + PARKED_MS));
        let off = Recheck {
            connected_hours: 0,
            ..Recheck::default()
        };
        assert_eq!(
            stored_next_check(&w, Some(&off), NOW),
            Some(NOW + PARKED_MS)
        );
        assert_eq!(
            stored_next_check(&w, Some(&Recheck::default()), NOW),
            Some(NOW + 23 * HOUR_MS)
        );
        let keyless = watch(Status::Disconnected, None);
        assert_eq!(
            stored_next_check(&keyless, Some(&Recheck::default()), NOW),
            None
        );
    }

    #[test]
    fn entries_without_a_test_plugin_are_never_rechecked() {
        let custom = Recheck {
            connected_hours: 6,
            ..Recheck::default()
        };
        assert_eq!(cadence(Some(custom), true), Some(custom));
        assert_eq!(cadence(None, true), Some(Recheck::default()));
        assert_eq!(cadence(Some(custom), false), None);
        assert_eq!(cadence(None, false), None);
    }
}
