//! Timestamps as stored and shown: RFC 3339 in UTC with exactly three fractional digits, so
//! that text order is time order. (A formatter that drops zero milliseconds writes
//! `…:01Z` for a moment that sorts after `…:01.500Z` as text; history read `ORDER BY at`
//! came out of order.)

use crate::usage::day_of;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in milliseconds.
pub fn rfc3339_millis(unix_ms: u64) -> String {
    let in_day = unix_ms % 86_400_000;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        day_of(unix_ms),
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Up to the year 9999, where the four-digit year ends.
    const MAX_MS: u64 = 253_402_300_799_999;

    #[test]
    fn whole_seconds_keep_their_digits() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_764_000_001_000),
            "2025-11-24T16:00:01.000Z"
        );
        assert_eq!(
            rfc3339_millis(1_764_000_001_500),
            "2025-11-24T16:00:01.500Z"
        );
    }

    proptest! {
        #[test]
        fn text_order_is_time_order(a in 0..MAX_MS, b in 0..MAX_MS) {
            prop_assert_eq!(rfc3339_millis(a).cmp(&rfc3339_millis(b)), a.cmp(&b));
        }

        #[test]
        fn it_is_rfc3339_for_the_same_instant(ms in 0..MAX_MS) {
            let text = rfc3339_millis(ms);
            let parsed = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.unix_timestamp_nanos(), i128::from(ms) * 1_000_000);
        }

        /// Within a second, the digits matter: `.12` and `.123` are where a trimming
        /// formatter sorts wrongly.
        #[test]
        fn neighbours_within_a_second_sort(second in 0..MAX_MS / 1000, a in 0u64..1000, b in 0u64..1000) {
            let (x, y) = (second * 1000 + a, second * 1000 + b);
            prop_assert_eq!(rfc3339_millis(x).cmp(&rfc3339_millis(y)), a.cmp(&b));
        }
    }
}
