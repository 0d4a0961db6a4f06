//! Keys that expire (issue #21, part 3): when to warn, and how re-checks tighten near the end.
//! No I/O: the cron passes the stored expiry, what was already said, and its clock.
//!
//! A credential may carry an expiry (entered by the user, for providers that issue expiring
//! keys). Notices fire once each, in order: 14 days before, 1 day before, and at expiry; a
//! notice that comes late (an expiry saved 3 days ahead) skips the earlier ones.

use serde::{Deserialize, Serialize};

use crate::quota::DAY_MS;
use crate::recheck::HOUR_MS;

/// How far ahead the first notice fires.
pub const FIRST_NOTICE_MS: u64 = 14 * DAY_MS;
/// How far ahead the last notice before expiry fires.
pub const LAST_NOTICE_MS: u64 = DAY_MS;

/// Which notice, in the order they fire. Stored as its number (0: none yet).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Expires within 14 days.
    Soon,
    /// Expires within a day.
    Tomorrow,
    /// Has expired.
    Expired,
}

impl Stage {
    /// The stored number: 1, 2, 3.
    pub fn number(self) -> u8 {
        match self {
            Stage::Soon => 1,
            Stage::Tomorrow => 2,
            Stage::Expired => 3,
        }
    }

    /// From the stored number; 0 (or anything else) is "none yet".
    pub fn from_number(n: u8) -> Option<Stage> {
        match n {
            1 => Some(Stage::Soon),
            2 => Some(Stage::Tomorrow),
            3 => Some(Stage::Expired),
            _ => None,
        }
    }

    /// The stage an expiry at `expires_at_ms` is in at `now_ms` (`None`: more than 14 days
    /// away).
    pub fn at(expires_at_ms: u64, now_ms: u64) -> Option<Stage> {
        let left = expires_at_ms.saturating_sub(now_ms);
        if now_ms >= expires_at_ms {
            Some(Stage::Expired)
        } else if left <= LAST_NOTICE_MS {
            Some(Stage::Tomorrow)
        } else if left <= FIRST_NOTICE_MS {
            Some(Stage::Soon)
        } else {
            None
        }
    }
}

/// The notice due at `now_ms` for a key expiring at `expires_at_ms`, given the last one sent
/// (`None`: none yet): the current stage, if it is later than the last sent.
pub fn notice_due(expires_at_ms: u64, sent: Option<Stage>, now_ms: u64) -> Option<Stage> {
    Stage::at(expires_at_ms, now_ms).filter(|stage| sent < Some(*stage))
}

/// When a key expiring at `expires_at_ms`, last checked (or stored) at `base_ms`, must be
/// checked next because of its expiry: daily in its last 14 days, hourly in its last day, and
/// once as soon as it has expired. `None` when the expiry asks for nothing (it was checked
/// after it expired, or it is further away than the cadence reaches).
pub fn check_by_ms(expires_at_ms: u64, base_ms: u64) -> Option<u64> {
    if base_ms >= expires_at_ms {
        return None;
    }
    let left = expires_at_ms - base_ms;
    let step = if left <= LAST_NOTICE_MS {
        HOUR_MS
    } else if left <= FIRST_NOTICE_MS {
        DAY_MS
    } else {
        // Far away: the first check in the last 14 days, or the one at expiry.
        return Some(expires_at_ms - FIRST_NOTICE_MS);
    };
    Some(base_ms.saturating_add(step).min(expires_at_ms))
}

/// A day or an RFC 3339 time as Unix ms, with no check against the clock (a provider's own
/// report of an expiry, which may already have passed).
pub fn read(text: &str) -> Result<u64, ExpiryError> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let at = if text.len() == 10 {
        time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| ExpiryError::Malformed)?
        .midnight()
        .assume_utc()
    } else {
        time::OffsetDateTime::parse(text, &Rfc3339).map_err(|_| ExpiryError::Malformed)?
    };
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| ExpiryError::Past)
}

/// At most this far ahead (ten years): anything later is a typo.
pub const MAX_AHEAD_MS: u64 = 3_653 * DAY_MS;

/// Why an expiry was refused. Each says what to send instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expires_at must be a day (YYYY-MM-DD) or an RFC 3339 time (2027-01-31T12:00:00Z)")]
    Malformed,
    #[error("expires_at is in the past: this key has already expired, so create a new one at the provider")]
    Past,
    #[error("expires_at is more than ten years ahead: check the year")]
    TooFar,
}

/// Parses an expiry a user typed: a calendar day (the key is treated as expiring at the start
/// of that day, UTC, so warnings come early rather than late) or an RFC 3339 time. It must lie
/// after `now_ms` and within ten years. Returns Unix ms.
pub fn parse(text: &str, now_ms: u64) -> Result<u64, ExpiryError> {
    let ms = read(text)?;
    if ms <= now_ms {
        return Err(ExpiryError::Past);
    }
    if ms - now_ms > MAX_AHEAD_MS {
        return Err(ExpiryError::TooFar);
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: u64 = 1_796_000_000_000;

    #[test]
    fn notices_fire_at_14_days_1_day_and_expiry_once_each() {
        let expires = T + 20 * DAY_MS;
        assert_eq!(
            notice_due(expires, None, T),
            None,
            "20 days ahead: nothing yet"
        );
        assert_eq!(notice_due(expires, None, T + 6 * DAY_MS), Some(Stage::Soon));
        assert_eq!(
            notice_due(expires, Some(Stage::Soon), T + 7 * DAY_MS),
            None,
            "once"
        );
        assert_eq!(
            notice_due(expires, Some(Stage::Soon), expires - DAY_MS + 1),
            Some(Stage::Tomorrow)
        );
        assert_eq!(
            notice_due(expires, Some(Stage::Tomorrow), expires - 1),
            None
        );
        assert_eq!(
            notice_due(expires, Some(Stage::Tomorrow), expires),
            Some(Stage::Expired)
        );
        assert_eq!(
            notice_due(expires, Some(Stage::Expired), expires + DAY_MS),
            None
        );
    }

    #[test]
    fn typed_expiries_are_days_or_rfc3339_times_ahead() {
        // 2026-11-30T00:00:00Z
        let now = 1_796_083_200_000 - DAY_MS;
        assert_eq!(parse("2026-12-01", now), Ok(1_796_083_200_000));
        assert_eq!(
            parse(" 2026-12-01T12:00:00Z ", now),
            Ok(1_796_083_200_000 + 12 * 3_600_000)
        );
        assert_eq!(
            parse("2026-12-01T13:00:00+01:00", now),
            Ok(1_796_083_200_000 + 12 * 3_600_000)
        );
        assert_eq!(parse("2026-11-29", now), Err(ExpiryError::Past));
        assert_eq!(parse("2046-11-29", now), Err(ExpiryError::TooFar));
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-02-30",
            "01/12/2026",
            "2026-12-01T25:00:00Z",
        ] {
            assert_eq!(parse(bad, now), Err(ExpiryError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_late_notice_skips_the_earlier_ones() {
        let expires = T + 3 * 3_600_000;
        assert_eq!(notice_due(expires, None, T), Some(Stage::Tomorrow));
        assert_eq!(notice_due(T - 1, None, T), Some(Stage::Expired));
    }

    #[test]
    fn rechecks_tighten_near_expiry() {
        let expires = T + 30 * DAY_MS;
        assert_eq!(check_by_ms(expires, T), Some(expires - 14 * DAY_MS));
        assert_eq!(
            check_by_ms(expires, expires - 10 * DAY_MS),
            Some(expires - 9 * DAY_MS)
        );
        assert_eq!(
            check_by_ms(expires, expires - 5 * HOUR_MS),
            Some(expires - 4 * HOUR_MS)
        );
        assert_eq!(
            check_by_ms(expires, expires - 10 * 60_000),
            Some(expires),
            "at expiry"
        );
        assert_eq!(
            check_by_ms(expires, expires),
            None,
            "checked after it expired"
        );
    }

    proptest! {
        /// Whatever the clock does (it only moves forward), each notice is sent at most once,
        /// in order, and "expired" exactly once the expiry has passed.
        #[test]
        fn each_notice_once_in_order(
            expires_in in 0u64..40 * DAY_MS,
            steps in proptest::collection::vec(0u64..3 * DAY_MS, 1..60),
        ) {
            let expires = T + expires_in;
            let mut now = T;
            let mut sent: Option<Stage> = None;
            let mut seen = Vec::new();
            for step in steps {
                now += step;
                if let Some(stage) = notice_due(expires, sent, now) {
                    prop_assert!(sent < Some(stage));
                    prop_assert_eq!(Some(stage), Stage::at(expires, now));
                    seen.push(stage);
                    sent = Some(stage);
                }
                if now >= expires {
                    prop_assert_eq!(sent, Some(Stage::Expired));
                }
            }
            let mut sorted = seen.clone();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), seen.len());
        }

        /// A check due because of the expiry is never later than the expiry itself, never
        /// sooner than an hour after the last one (except at expiry), and a key checked
        /// within its last 14 days is checked again within a day.
        #[test]
        fn the_expiry_check_is_bounded(expires_in in 1u64..60 * DAY_MS, base_back in 0u64..60 * DAY_MS) {
            let expires = T + expires_in;
            let base = expires.saturating_sub(base_back);
            match check_by_ms(expires, base) {
                None => prop_assert!(base >= expires),
                Some(at) => {
                    prop_assert!(at <= expires);
                    prop_assert!(at >= base.min(expires));
                    if expires - base <= FIRST_NOTICE_MS {
                        prop_assert!(at - base <= DAY_MS);
                        prop_assert!(at == expires || at - base >= HOUR_MS);
                    }
                }
            }
        }
    }
}
