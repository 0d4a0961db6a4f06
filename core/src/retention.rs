//! How long what grows with time is kept (issue #24), and which re-checks leave an audit row.
//!
//! Four things grow with every day the service runs: the audit log, the status events (each
//! with its webhook's delivery state), the daily usage and the daily re-check counts. Each has
//! a retention period, set per environment (`RETAIN_*_DAYS`, documented defaults), and the cron
//! removes what has aged out in bounded batches. Never removed, whatever its age: a key's
//! current state (the `integrations` row), the newest status event of each integration (what
//! explains its status), and an event whose webhook is still being delivered.
//!
//! A scheduled re-check that changes nothing (same status, no event) writes no audit row: it
//! is counted per day, provider and outcome instead, and the row's `last_checked_at` says when
//! it ran. The audit log then holds what people did and what changed.

use crate::status::Status;

/// `RETAIN_AUDIT_DAYS`: audit rows older than this many days are removed.
pub const RETAIN_AUDIT_DAYS: &str = "RETAIN_AUDIT_DAYS";
/// `RETAIN_EVENTS_DAYS`: status events (and their webhook deliveries) older than this many
/// days are removed, except each integration's newest and any still being delivered.
pub const RETAIN_EVENTS_DAYS: &str = "RETAIN_EVENTS_DAYS";
/// `RETAIN_USAGE_DAYS`: daily usage and daily re-check counts older than this many days are
/// removed.
pub const RETAIN_USAGE_DAYS: &str = "RETAIN_USAGE_DAYS";

/// The default for the audit log and the status events: 400 days, a year and a month, so that a
/// yearly review (or audit) of the last twelve months always finds every row.
pub const DEFAULT_DAYS: u32 = 400;
/// The default for daily usage: 90 days. Usage is the table that grows fastest (a row a day per
/// tenant, provider and key source: ~120 M rows in 400 days at 100,000 tenants, more than a D1
/// database holds); a quarter covers the console's chart and a billing dispute, and a platform
/// that bills on a year of usage exports it (`GET /v1/admin/usage`) before it ages out.
pub const DEFAULT_USAGE_DAYS: u32 = 90;
/// The shortest period an environment may set: a month of history for support and the console.
pub const MIN_DAYS: u32 = 30;
/// The longest: ten years (beyond, keep exports, not rows).
pub const MAX_DAYS: u32 = 3_650;

/// Rows removed by one statement.
pub const BATCH: u32 = 500;
/// Statements per table per cron run: at most `BATCH * BATCHES_PER_RUN` rows of each table a
/// run (5,000; with a run every 10 minutes, 720,000 a day, far above what a day adds).
pub const BATCHES_PER_RUN: u32 = 10;

/// Statements per table per database in one run when tenants span `databases` databases: the
/// run's statements stay within `BATCHES_PER_RUN` per table however many there are (a Worker
/// invocation may make 1,000 queries), and each database gets at least one. Each database
/// holds a share of the rows, so it needs a share of the batches.
pub fn batches_per_database(databases: usize) -> u32 {
    let n = u32::try_from(databases.max(1)).unwrap_or(u32::MAX);
    (BATCHES_PER_RUN / n).max(1)
}

const DAY_MS: u64 = 86_400_000;

/// Retention periods in days, each within [`MIN_DAYS`, `MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub audit_days: u32,
    pub events_days: u32,
    pub usage_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            audit_days: DEFAULT_DAYS,
            events_days: DEFAULT_DAYS,
            usage_days: DEFAULT_USAGE_DAYS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be a whole number of days from {MIN_DAYS} to {MAX_DAYS} (got '{got}')")]
pub struct RetentionError {
    pub name: &'static str,
    pub got: String,
}

impl Retention {
    /// From the environment's values (`None` or blank: the default). A value out of bounds or
    /// not a number is refused, never silently replaced: a typo must not delete history early.
    pub fn from_values(
        audit: Option<&str>,
        events: Option<&str>,
        usage: Option<&str>,
    ) -> Result<Self, RetentionError> {
        fn days(
            name: &'static str,
            value: Option<&str>,
            default: u32,
        ) -> Result<u32, RetentionError> {
            match value.map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (MIN_DAYS..=MAX_DAYS).contains(d))
                    .ok_or_else(|| RetentionError {
                        name,
                        got: v.chars().take(40).collect(),
                    }),
            }
        }
        Ok(Self {
            audit_days: days(RETAIN_AUDIT_DAYS, audit, DEFAULT_DAYS)?,
            events_days: days(RETAIN_EVENTS_DAYS, events, DEFAULT_DAYS)?,
            usage_days: days(RETAIN_USAGE_DAYS, usage, DEFAULT_USAGE_DAYS)?,
        })
    }

    /// What a run at `now_ms` removes: rows strictly older than each cutoff.
    pub fn cutoffs(&self, now_ms: u64) -> Cutoffs {
        let before = |days: u32| now_ms.saturating_sub(u64::from(days) * DAY_MS);
        Cutoffs {
            audit_before: crate::timestamp::rfc3339_millis(before(self.audit_days)),
            events_before: crate::timestamp::rfc3339_millis(before(self.events_days)),
            usage_before: crate::usage::day_of(before(self.usage_days)),
        }
    }
}

/// The cutoffs of one run, in each table's own format: RFC 3339 for `at` columns (they compare
/// as text), `YYYY-MM-DD` for days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoffs {
    pub audit_before: String,
    pub events_before: String,
    pub usage_before: String,
}

/// Whether a test's outcome is written to the audit log as a row, or only counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditWrite {
    /// A row: someone acted, or something changed.
    Row,
    /// The day's count for the provider and outcome goes up by one.
    Counted,
}

/// A test's audit: a row when a person (or a service) asked for it, or when the status moved;
/// only counted when it was the scheduler's re-check and the status stayed where it was.
pub fn audit_write(scheduled: bool, before: Status, after: Status) -> AuditWrite {
    if scheduled && before == after {
        AuditWrite::Counted
    } else {
        AuditWrite::Row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_makes_a_bounded_number_of_statements_however_many_databases() {
        assert_eq!(batches_per_database(1), BATCHES_PER_RUN);
        assert_eq!(batches_per_database(0), BATCHES_PER_RUN);
        for n in 1..=crate::shard::MAX_SHARDS {
            let per = batches_per_database(n);
            assert!(per >= 1, "every database is swept");
            // Four tables: within ten statements each, or one per database when there are more.
            assert!(
                4 * per * n as u32 <= 4 * BATCHES_PER_RUN.max(n as u32),
                "{n}: {per}"
            );
        }
    }
    use crate::status::any_status;
    use proptest::prelude::*;

    #[test]
    fn defaults_and_refusals() {
        assert_eq!(
            Retention::from_values(None, Some(" "), None),
            Ok(Retention::default())
        );
        let set = Retention::from_values(Some("90"), Some("30"), Some("3650")).expect("valid");
        assert_eq!(
            (set.audit_days, set.events_days, set.usage_days),
            (90, 30, 3650)
        );
        for bad in ["29", "3651", "-1", "1e3", "ninety", "0"] {
            let e = Retention::from_values(Some(bad), None, None).expect_err(bad);
            assert_eq!(e.name, RETAIN_AUDIT_DAYS);
            assert!(e.to_string().contains("from 30 to 3650"), "{e}");
        }
        let e = Retention::from_values(None, None, Some("7")).expect_err("too short");
        assert_eq!(e.name, RETAIN_USAGE_DAYS);
    }

    #[test]
    fn cutoffs_are_the_periods_before_now() {
        // 2026-11-30T12:00:00Z
        let now = 1_796_040_000_000;
        let c = Retention {
            audit_days: 30,
            events_days: 400,
            usage_days: 90,
        }
        .cutoffs(now);
        assert_eq!(c.audit_before, "2026-10-31T12:00:00.000Z");
        assert_eq!(c.events_before, "2025-10-26T12:00:00.000Z");
        assert_eq!(c.usage_before, "2026-09-01");
    }

    proptest! {
        /// A longer period never removes more: each cutoff moves back as the period grows, and
        /// no cutoff is ever after the run's own time.
        #[test]
        fn a_longer_period_keeps_at_least_as_much(
            now in 0u64..4_000_000_000_000,
            a in MIN_DAYS..=MAX_DAYS,
            b in MIN_DAYS..=MAX_DAYS,
        ) {
            let (short, long) = (a.min(b), a.max(b));
            let cut = |d: u32| Retention { audit_days: d, events_days: d, usage_days: d }.cutoffs(now);
            let (s, l) = (cut(short), cut(long));
            prop_assert!(l.audit_before <= s.audit_before);
            prop_assert!(l.events_before <= s.events_before);
            prop_assert!(l.usage_before <= s.usage_before);
            prop_assert!(s.audit_before <= crate::timestamp::rfc3339_millis(now));
        }

        /// Only an unchanged scheduled re-check is counted rather than written: whatever a
        /// person asks for, and every change of status, stays in the audit log.
        #[test]
        fn only_unchanged_scheduled_rechecks_are_counted(
            scheduled in any::<bool>(),
            before in any_status(),
            after in any_status(),
        ) {
            let w = audit_write(scheduled, before, after);
            prop_assert_eq!(w == AuditWrite::Counted, scheduled && before == after);
        }
    }
}
