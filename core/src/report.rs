//! Usage feedback: an AI function tells the service what the provider answered when it used a
//! resolved key (`POST /v1/resolve/report`), and this decides what that report means.
//!
//! A rejection (401 and 403 everywhere, plus the statuses an entry adds, such as Anthropic's
//! 402 for billing) of a *tenant's* key schedules a re-test of the stored key, at most one per
//! integration per [`RETEST_DEDUP_MS`] however many reports arrive; the re-test's verdict then
//! moves the status exactly as a Test would. A report never changes a status by itself: the
//! caller may be wrong (a stale cached key, a key for another region), the plugin asks the
//! provider. Reports about the platform's key are counted for the platform admin and never
//! touch a tenant's row.

use crate::resolve::{Source, TenantSide};

/// At most one report-driven re-test per integration in this window.
pub const RETEST_DEDUP_MS: u64 = 5 * 60 * 1000;

/// The statuses that count as a rejection of the key for every provider.
pub const DEFAULT_REJECTIONS: [u16; 2] = [401, 403];

/// What the provider answered the caller, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub source: Source,
    pub status: u16,
}

/// What the service does about a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAction {
    /// The tenant's stored key will be re-tested now.
    RetestScheduled,
    /// A re-test of this integration ran or was scheduled recently; this report is counted
    /// and the next one may re-test after `retest_after_ms` (Unix milliseconds).
    Deduplicated { retest_after_ms: u64 },
    /// Counted only: the status is not a rejection of the key (a 429, a 5xx, a 400...).
    NotARejection,
    /// Counted only: the tenant has no stored key (it was removed, or the caller used the
    /// platform's key and said otherwise).
    NoTenantKey,
    /// A rejection of the platform's key: counted and audited for the platform admin, no
    /// tenant row touched.
    PlatformKeyRecorded,
}

impl ReportAction {
    /// Whether the report asks for a re-test (the Worker then claims it in storage, so that
    /// isolates racing on the same integration run one re-test between them).
    pub fn retests(self) -> bool {
        self == ReportAction::RetestScheduled
    }

    /// The answer's `action`.
    pub fn slug(self) -> &'static str {
        match self {
            ReportAction::RetestScheduled => "retest-scheduled",
            ReportAction::Deduplicated { .. } => "deduplicated",
            ReportAction::NotARejection => "not-a-rejection",
            ReportAction::NoTenantKey => "no-tenant-key",
            ReportAction::PlatformKeyRecorded => "platform-key-recorded",
        }
    }

    /// A sentence for the 202 answer and the audit log.
    pub fn describe(self) -> String {
        match self {
            ReportAction::RetestScheduled => "The tenant's key will be re-tested now.".into(),
            ReportAction::Deduplicated { .. } => format!(
                "A re-test of this key ran in the last {} minutes; the report is counted.",
                RETEST_DEDUP_MS / 60_000
            ),
            ReportAction::NotARejection => {
                "The status does not say the key was rejected; the report is counted.".into()
            }
            ReportAction::NoTenantKey => {
                "The tenant has no stored key for this provider; the report is counted.".into()
            }
            ReportAction::PlatformKeyRecorded => {
                "The rejection of the platform key is recorded for the platform admin.".into()
            }
        }
    }
}

/// Whether `status` rejects the key for an entry whose extra rejection statuses are `extra`.
pub fn is_rejection(status: u16, extra: &[u16]) -> bool {
    DEFAULT_REJECTIONS.contains(&status) || extra.contains(&status)
}

/// Decides what a report means. `last_retest_ms` is when a report last claimed a re-test of
/// this integration (`None`: never).
pub fn decide(
    report: Report,
    extra_rejections: &[u16],
    tenant: TenantSide,
    last_retest_ms: Option<u64>,
    now_ms: u64,
) -> ReportAction {
    if !is_rejection(report.status, extra_rejections) {
        return ReportAction::NotARejection;
    }
    if report.source == Source::Platform {
        return ReportAction::PlatformKeyRecorded;
    }
    if !matches!(tenant, TenantSide::Key(_)) {
        return ReportAction::NoTenantKey;
    }
    match last_retest_ms {
        Some(last) if now_ms < last.saturating_add(RETEST_DEDUP_MS) => ReportAction::Deduplicated {
            retest_after_ms: last.saturating_add(RETEST_DEDUP_MS),
        },
        _ => ReportAction::RetestScheduled,
    }
}

/// The claim a re-test makes in storage: it may claim the integration when no claim is later
/// than this instant (so that two isolates deciding at once run one re-test).
pub fn claimable_before(now_ms: u64) -> u64 {
    now_ms.saturating_sub(RETEST_DEDUP_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;
    use proptest::prelude::*;

    const KEY: TenantSide = TenantSide::Key(Status::Connected);

    fn tenant(status: u16) -> Report {
        Report {
            source: Source::Tenant,
            status,
        }
    }

    #[test]
    fn a_401_or_403_on_a_tenant_key_retests_it() {
        for s in [401, 403] {
            assert_eq!(
                decide(tenant(s), &[], KEY, None, 0),
                ReportAction::RetestScheduled
            );
        }
    }

    #[test]
    fn a_402_counts_only_where_the_entry_says_it_is_billing() {
        assert_eq!(
            decide(tenant(402), &[], KEY, None, 0),
            ReportAction::NotARejection
        );
        assert_eq!(
            decide(tenant(402), &[402], KEY, None, 0),
            ReportAction::RetestScheduled
        );
    }

    #[test]
    fn transient_statuses_never_retest() {
        for s in [200, 400, 404, 408, 429, 500, 502, 503, 529] {
            assert_eq!(
                decide(tenant(s), &[], KEY, None, 0),
                ReportAction::NotARejection
            );
        }
    }

    #[test]
    fn the_platform_key_never_touches_a_tenant() {
        let r = Report {
            source: Source::Platform,
            status: 401,
        };
        for side in [TenantSide::NotInstalled, TenantSide::NoKey, KEY] {
            assert_eq!(
                decide(r, &[], side, None, 0),
                ReportAction::PlatformKeyRecorded
            );
        }
    }

    #[test]
    fn the_window_is_exactly_five_minutes() {
        let last = 1_000_000;
        assert_eq!(
            decide(
                tenant(401),
                &[],
                KEY,
                Some(last),
                last + RETEST_DEDUP_MS - 1
            ),
            ReportAction::Deduplicated {
                retest_after_ms: last + RETEST_DEDUP_MS
            }
        );
        assert_eq!(
            decide(tenant(401), &[], KEY, Some(last), last + RETEST_DEDUP_MS),
            ReportAction::RetestScheduled
        );
        assert_eq!(claimable_before(last + RETEST_DEDUP_MS), last);
    }

    proptest! {
        /// However many reports arrive, in any order of time, the re-tests they claim are at
        /// least the window apart (the Worker records each claim, as storage does).
        #[test]
        fn at_most_one_retest_per_window(mut times in proptest::collection::vec(0u64..3_600_000, 1..200),
                                          statuses in proptest::collection::vec(prop_oneof![Just(401u16), Just(403), Just(429), Just(500)], 200)) {
            times.sort_unstable();
            let mut last = None;
            let mut claimed = Vec::new();
            for (t, s) in times.iter().zip(statuses.iter().cycle()) {
                if decide(tenant(*s), &[], KEY, last, *t).retests() {
                    // The storage claim: only when no claim is later than `claimable_before`.
                    prop_assert!(last.is_none_or(|l| l <= claimable_before(*t)));
                    last = Some(*t);
                    claimed.push(*t);
                }
            }
            for w in claimed.windows(2) {
                prop_assert!(w[1] - w[0] >= RETEST_DEDUP_MS);
            }
            // A rejection after the window always claims.
            let after = times.last().copied().unwrap_or(0) + RETEST_DEDUP_MS;
            prop_assert!(decide(tenant(401), &[], KEY, last, after).retests());
        }

        /// Only a rejection of a stored tenant key ever re-tests.
        #[test]
        fn only_tenant_rejections_retest(status in 100u16..600, platform in any::<bool>(),
                                         side in prop_oneof![Just(TenantSide::NotInstalled), Just(TenantSide::NoKey),
                                                             Just(TenantSide::Key(Status::Connected)), Just(TenantSide::Key(Status::Invalid))],
                                         extra in proptest::collection::vec(400u16..500, 0..3),
                                         last in proptest::option::of(0u64..10_000_000), now in 0u64..10_000_000) {
            let source = if platform { Source::Platform } else { Source::Tenant };
            let a = decide(Report { source, status }, &extra, side, last, now);
            prop_assert_eq!(
                a.retests(),
                is_rejection(status, &extra) && !platform && matches!(side, TenantSide::Key(_))
                    && last.is_none_or(|l| now >= l + RETEST_DEDUP_MS)
            );
        }
    }
}
