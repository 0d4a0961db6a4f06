//! Counting resolves and reports without a storage write per request.
//!
//! Resolve is the hot path, so each isolate aggregates in memory: counts per (day, tenant,
//! provider, source) and the last time each tenant key was used. The first record after a
//! flush arms one delayed flush ([`FLUSH_DELAY_MS`]); every record until then only adds to the
//! counts, so an isolate writes at most one batch per delay however busy it is. A flush is
//! also asked at once when the pending set reaches [`MAX_PENDING`] keys, which bounds memory.
//! What an isolate has not flushed when it is evicted is lost (at most one delay's worth);
//! the counts are a usage report, not a ledger.

use std::collections::BTreeMap;

use crate::resolve::Source;

/// How long counts wait in the isolate before one batch writes them.
pub const FLUSH_DELAY_MS: u64 = 2_000;
/// Pending keys that trigger a flush without waiting.
pub const MAX_PENDING: usize = 1_024;

/// One row of the daily usage table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageKey {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub tenant: String,
    pub provider: String,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub resolves: u64,
    /// Reports that the provider rejected the key (see `report::is_rejection`).
    pub rejections: u64,
    /// Every report, rejection or not.
    pub reports: u64,
}

/// What the adapter should do after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// A flush is already armed.
    Nothing,
    /// Arm one flush that drains after `delay_ms`.
    ArmFlush { delay_ms: u64 },
    /// Drain now (the pending set is full).
    FlushNow,
}

/// What one flush writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flush {
    pub counts: Vec<(UsageKey, Counts)>,
    /// (tenant, provider, Unix ms): the latest resolve that returned the tenant's key.
    pub last_used: Vec<(String, String, u64)>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty()
    }

    /// The flush split by the database that holds each tenant (`shard_of`, a position below
    /// `shards`): part `i` holds exactly the rows of the tenants in database `i`, in order.
    pub fn split_by_shard(self, shards: usize, shard_of: impl Fn(&str) -> usize) -> Vec<Flush> {
        let mut parts = vec![Flush::default(); shards.max(1)];
        let last = parts.len() - 1;
        for c in self.counts {
            parts[shard_of(&c.0.tenant).min(last)].counts.push(c);
        }
        for l in self.last_used {
            parts[shard_of(&l.0).min(last)].last_used.push(l);
        }
        parts
    }

    /// The flush split into parts of at most `max` rows each (at least one), in order. Each
    /// part is written as one atomic batch: when one fails, exactly it and the parts after it
    /// go back to [`Usage::restore`], so a count already written is never counted again.
    pub fn into_batches(self, max: usize) -> Vec<Flush> {
        let max = max.max(1);
        let mut out: Vec<Flush> = Vec::new();
        let mut current = Flush::default();
        let full = |f: &Flush| f.counts.len() + f.last_used.len() >= max;
        for c in self.counts {
            current.counts.push(c);
            if full(&current) {
                out.push(std::mem::take(&mut current));
            }
        }
        for l in self.last_used {
            current.last_used.push(l);
            if full(&current) {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }
}

/// An isolate's pending counts.
#[derive(Debug, Default)]
pub struct Usage {
    pending: BTreeMap<UsageKey, Counts>,
    last_used: BTreeMap<(String, String), u64>,
    armed: bool,
}

impl Usage {
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolve answered with `source`'s key.
    pub fn resolved(&mut self, tenant: &str, provider: &str, source: Source, now_ms: u64) -> Then {
        self.entry(tenant, provider, source, now_ms).resolves += 1;
        if source == Source::Tenant {
            let last = self
                .last_used
                .entry((tenant.to_owned(), provider.to_owned()))
                .or_insert(now_ms);
            *last = (*last).max(now_ms);
        }
        self.then()
    }

    /// A usage report arrived; `rejection` when its status rejects the key.
    pub fn reported(
        &mut self,
        tenant: &str,
        provider: &str,
        source: Source,
        rejection: bool,
        now_ms: u64,
    ) -> Then {
        let c = self.entry(tenant, provider, source, now_ms);
        c.reports += 1;
        c.rejections += u64::from(rejection);
        self.then()
    }

    /// Takes everything pending and disarms, so the next record arms a new flush.
    pub fn drain(&mut self) -> Flush {
        self.armed = false;
        Flush {
            counts: std::mem::take(&mut self.pending).into_iter().collect(),
            last_used: std::mem::take(&mut self.last_used)
                .into_iter()
                .map(|((t, p), at)| (t, p, at))
                .collect(),
        }
    }

    /// Puts back a flush that could not be written (a storage error), so it is retried with
    /// the next one.
    pub fn restore(&mut self, flush: Flush) {
        for (k, c) in flush.counts {
            let e = self.pending.entry(k).or_default();
            e.resolves += c.resolves;
            e.rejections += c.rejections;
            e.reports += c.reports;
        }
        for (t, p, at) in flush.last_used {
            let e = self.last_used.entry((t, p)).or_insert(at);
            *e = (*e).max(at);
        }
    }

    pub fn pending_keys(&self) -> usize {
        self.pending.len()
    }

    fn entry(&mut self, tenant: &str, provider: &str, source: Source, now_ms: u64) -> &mut Counts {
        self.pending
            .entry(UsageKey {
                day: day_of(now_ms),
                tenant: tenant.to_owned(),
                provider: provider.to_owned(),
                source,
            })
            .or_default()
    }

    fn then(&mut self) -> Then {
        if self.pending.len() >= MAX_PENDING {
            Then::FlushNow
        } else if self.armed {
            Then::Nothing
        } else {
            self.armed = true;
            Then::ArmFlush {
                delay_ms: FLUSH_DELAY_MS,
            }
        }
    }
}

/// The UTC day of a Unix time in milliseconds, `YYYY-MM-DD` (the proleptic Gregorian
/// calendar, days-to-civil after H. Hinnant).
pub fn day_of(unix_ms: u64) -> String {
    let days = (unix_ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` (a real calendar day) into the same text, for a `since` query.
pub fn parse_day(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?
            .parse()
            .ok()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=9999).contains(&y).then_some(())?;
    (1..=days).contains(&d).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(86_399_999), "1970-01-01");
        assert_eq!(day_of(86_400_000), "1970-01-02");
        // 2026-11-28T12:00:00Z
        assert_eq!(day_of(1_795_867_200_000), "2026-11-28");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn since_accepts_real_days_only() {
        assert_eq!(parse_day("2026-11-28").as_deref(), Some("2026-11-28"));
        assert_eq!(parse_day("2024-02-29").as_deref(), Some("2024-02-29"));
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "26-11-28",
            "2026-11-28T",
            "+026-11-28",
            "2026-11-00",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_flush_is_armed_per_delay() {
        let mut u = Usage::new();
        assert_eq!(
            u.resolved("t", "openai", Source::Tenant, 0),
            Then::ArmFlush {
                delay_ms: FLUSH_DELAY_MS
            }
        );
        for i in 0..100 {
            assert_eq!(u.resolved("t", "openai", Source::Tenant, i), Then::Nothing);
        }
        let f = u.drain();
        assert_eq!(f.counts.len(), 1);
        assert_eq!(f.counts[0].1.resolves, 101);
        assert_eq!(f.last_used, vec![("t".into(), "openai".into(), 99)]);
        assert!(matches!(
            u.resolved("t", "openai", Source::Platform, 200),
            Then::ArmFlush { .. }
        ));
    }

    #[test]
    fn a_full_pending_set_flushes_at_once() {
        let mut u = Usage::new();
        let mut last = Then::Nothing;
        for i in 0..MAX_PENDING {
            last = u.resolved(&format!("t{i}"), "openai", Source::Platform, 0);
        }
        assert_eq!(last, Then::FlushNow);
        assert_eq!(u.drain().counts.len(), MAX_PENDING);
        assert_eq!(u.pending_keys(), 0);
    }

    #[test]
    fn platform_resolves_do_not_mark_a_tenant_key_used() {
        let mut u = Usage::new();
        u.resolved("t", "openai", Source::Platform, 5);
        assert!(u.drain().last_used.is_empty());
    }

    proptest! {
        /// A flush whose batches fail from the k-th on is written exactly once in total: the
        /// batches before k are stored, the rest are restored and written by the next flush;
        /// nothing is lost and nothing counted twice (review L3).
        #[test]
        fn a_flush_failing_partway_never_double_counts(
            resolves in proptest::collection::vec((0usize..40, 0usize..3, any::<bool>()), 1..300),
            max in 1usize..60,
            fail_at in 0usize..10,
        ) {
            let mut u = Usage::new();
            for (i, (tenant, provider, platform)) in resolves.iter().enumerate() {
                let source = if *platform { Source::Platform } else { Source::Tenant };
                u.resolved(&format!("t{tenant}"), &format!("p{provider}"), source, i as u64);
            }
            let everything = u.drain();
            let expected: u64 = everything.counts.iter().map(|(_, c)| c.resolves).sum();
            prop_assert_eq!(expected, resolves.len() as u64);

            // The store: what each key holds after the writes that succeeded.
            let mut stored: BTreeMap<UsageKey, u64> = BTreeMap::new();
            let mut write = |f: &Flush| for (k, c) in &f.counts {
                *stored.entry(k.clone()).or_default() += c.resolves;
            };
            let batches = everything.clone().into_batches(max);
            prop_assert!(batches.iter().all(|b| b.counts.len() + b.last_used.len() <= max && !b.is_empty()));
            let mut u = Usage::new();
            let mut failed = false;
            for (i, b) in batches.into_iter().enumerate() {
                if failed || i == fail_at {
                    failed = true;
                    u.restore(b);
                } else {
                    write(&b);
                }
            }
            for b in u.drain().into_batches(max) {
                write(&b);
            }
            let total: u64 = stored.values().sum();
            prop_assert_eq!(total, expected);
            for (k, c) in &everything.counts {
                prop_assert_eq!(stored.get(k).copied(), Some(c.resolves));
            }
        }

        /// Split by database, every row lands in exactly one part, the one its tenant's
        /// database has, and nothing is lost.
        #[test]
        fn a_flush_split_by_database_keeps_every_row_once(
            resolves in proptest::collection::vec((0usize..40, 0usize..3, any::<bool>()), 0..200),
            shards in 1usize..5,
        ) {
            let mut u = Usage::new();
            for (i, (tenant, provider, platform)) in resolves.iter().enumerate() {
                let source = if *platform { Source::Platform } else { Source::Tenant };
                u.resolved(&format!("t{tenant}"), &format!("p{provider}"), source, i as u64);
            }
            let everything = u.drain();
            let shard_of = |t: &str| t.len() % shards;
            let parts = everything.clone().split_by_shard(shards, shard_of);
            prop_assert_eq!(parts.len(), shards);
            for (i, p) in parts.iter().enumerate() {
                prop_assert!(p.counts.iter().all(|(k, _)| shard_of(&k.tenant) == i));
                prop_assert!(p.last_used.iter().all(|(t, _, _)| shard_of(t) == i));
            }
            let mut counts: Vec<_> = parts.iter().flat_map(|p| p.counts.clone()).collect();
            let mut used: Vec<_> = parts.iter().flat_map(|p| p.last_used.clone()).collect();
            let (mut want_counts, mut want_used) = (everything.counts.clone(), everything.last_used.clone());
            counts.sort_by(|a, b| a.0.cmp(&b.0));
            want_counts.sort_by(|a, b| a.0.cmp(&b.0));
            used.sort();
            want_used.sort();
            prop_assert_eq!(counts, want_counts);
            prop_assert_eq!(used, want_used);
        }

        #[test]
        fn days_match_the_time_crate(ms in 0u64..253_402_300_799_000) {
            let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want = format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
            prop_assert_eq!(day_of(ms), want.clone());
            prop_assert_eq!(parse_day(&want), Some(want));
        }

        /// Nothing is lost or counted twice across records, failed flushes and drains.
        #[test]
        fn every_record_is_flushed_once(ops in proptest::collection::vec((0u8..4, 0u8..3, 0u8..2, any::<bool>(), 0u64..400_000_000), 0..300)) {
            let mut u = Usage::new();
            let (mut resolves, mut reports, mut rejections) = (0u64, 0u64, 0u64);
            let mut flushed = Counts::default();
            for (op, tenant, src, rej, t) in ops {
                let source = if src == 0 { Source::Tenant } else { Source::Platform };
                let tenant = format!("t{tenant}");
                match op {
                    0 | 1 => { u.resolved(&tenant, "p", source, t); resolves += 1; }
                    2 => { u.reported(&tenant, "p", source, rej, t); reports += 1; rejections += u64::from(rej); }
                    _ => {
                        let f = u.drain();
                        if rej { u.restore(f); } else {
                            for (_, c) in f.counts { flushed.resolves += c.resolves; flushed.reports += c.reports; flushed.rejections += c.rejections; }
                        }
                    }
                }
            }
            for (_, c) in u.drain().counts { flushed.resolves += c.resolves; flushed.reports += c.reports; flushed.rejections += c.rejections; }
            prop_assert_eq!(flushed, Counts { resolves, rejections, reports });
        }
    }
}
