//! A hard cap on the platform key (issue #21, part 4): how many resolves a tenant may be
//! answered with the platform's key per UTC day, per provider and overall. The decision, with
//! no I/O; the Worker keeps each tenant's counts in a Durable Object, which runs [`take`] on
//! its own storage one request at a time, so the count is exact however many isolates ask.
//!
//! A tenant's own key is never capped: the caller asks only for platform-key answers.

use serde::{Deserialize, Serialize};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A UTC day, counted from the Unix epoch.
pub type Day = u64;

/// The day `now_ms` falls in.
pub fn day_of(now_ms: u64) -> Day {
    now_ms / DAY_MS
}

/// When `day`'s counts reset (the next midnight, UTC), in Unix ms.
pub fn resets_at_ms(day: Day) -> u64 {
    (day + 1).saturating_mul(DAY_MS)
}

/// The caps that apply to one platform-key resolve. `None`: no cap at that level.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Caps {
    /// Resolves per day of this provider's platform key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<u32>,
    /// Resolves per day of any platform key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall: Option<u32>,
}

impl Caps {
    /// Whether any cap applies (if not, nothing is counted on the resolve path).
    pub fn any(&self) -> bool {
        self.provider.is_some() || self.overall.is_some()
    }
}

/// A stored count: how many were taken on `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Count {
    pub day: Day,
    pub n: u32,
}

impl Count {
    /// The count for `today`: a count from another day is zero.
    pub fn on(self, today: Day) -> u32 {
        if self.day == today {
            self.n
        } else {
            0
        }
    }
}

/// Which cap refused.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapScope {
    Provider,
    Overall,
}

/// A refused resolve: the cap reached, and when it resets.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapReached {
    pub scope: CapScope,
    pub cap: u32,
    /// Unix ms of the next UTC midnight.
    pub resets_at_ms: u64,
}

/// The counts after one resolve was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    pub provider: Count,
    pub overall: Count,
}

/// Takes one platform-key resolve from today's allowance, given the stored counts for the
/// provider and for the tenant overall. Refused when either cap is reached (the provider's
/// first); allowed, both counts move together.
pub fn take(provider: Count, overall: Count, today: Day, caps: Caps) -> Result<Taken, CapReached> {
    let (p, o) = (provider.on(today), overall.on(today));
    let refuse = |scope, cap| CapReached {
        scope,
        cap,
        resets_at_ms: resets_at_ms(today),
    };
    if let Some(cap) = caps.provider.filter(|cap| p >= *cap) {
        return Err(refuse(CapScope::Provider, cap));
    }
    if let Some(cap) = caps.overall.filter(|cap| o >= *cap) {
        return Err(refuse(CapScope::Overall, cap));
    }
    Ok(Taken {
        provider: Count {
            day: today,
            n: p.saturating_add(1),
        },
        overall: Count {
            day: today,
            n: o.saturating_add(1),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn the_cap_resets_at_the_next_utc_midnight() {
        // 2026-11-30T13:00:00Z
        let now = 1_796_043_600_000;
        let day = day_of(now);
        assert_eq!(resets_at_ms(day), 1_796_083_200_000, "2026-12-01T00:00:00Z");
        assert!(resets_at_ms(day) > now && resets_at_ms(day) - now <= DAY_MS);
    }

    #[test]
    fn no_cap_never_refuses_and_a_zero_cap_always_does() {
        let c = Count::default();
        assert!(take(c, c, 5, Caps::default()).is_ok());
        let zero = Caps {
            provider: Some(0),
            overall: None,
        };
        assert_eq!(
            take(c, c, 5, zero).map_err(|r| r.scope),
            Err(CapScope::Provider)
        );
    }

    proptest! {
        /// Over any sequence of resolves across providers and days, the resolves allowed per
        /// day are exactly min(asked, cap) for each provider's cap and never exceed the overall
        /// cap; a refusal names a cap that was indeed reached.
        #[test]
        fn exactly_the_cap_is_served_each_day(
            asks in proptest::collection::vec((0u8..3, 0u64..3), 0..200),
            provider_cap in proptest::option::of(0u32..20),
            overall_cap in proptest::option::of(0u32..40),
        ) {
            let caps = Caps { provider: provider_cap, overall: overall_cap };
            let mut stored: HashMap<u8, Count> = HashMap::new();
            let mut overall = Count::default();
            let mut allowed: HashMap<(u64, u8), u32> = HashMap::new();
            let mut allowed_day: HashMap<u64, u32> = HashMap::new();
            let mut asked: HashMap<(u64, u8), u32> = HashMap::new();
            let mut days: Vec<u64> = asks.iter().map(|(_, d)| *d).collect();
            days.sort_unstable();
            // Days only move forward, as a clock does.
            for ((provider, _), day) in asks.iter().zip(days) {
                *asked.entry((day, *provider)).or_default() += 1;
                let p = stored.get(provider).copied().unwrap_or_default();
                match take(p, overall, day, caps) {
                    Ok(t) => {
                        stored.insert(*provider, t.provider);
                        overall = t.overall;
                        *allowed.entry((day, *provider)).or_default() += 1;
                        *allowed_day.entry(day).or_default() += 1;
                    }
                    Err(r) => {
                        let reached = match r.scope {
                            CapScope::Provider => p.on(day),
                            CapScope::Overall => overall.on(day),
                        };
                        prop_assert!(reached >= r.cap);
                        prop_assert_eq!(r.resets_at_ms, resets_at_ms(day));
                    }
                }
            }
            for (key, n) in &allowed {
                if let Some(cap) = provider_cap {
                    prop_assert!(*n <= cap);
                }
                if overall_cap.is_none() {
                    let want = provider_cap.map_or(asked[key], |c| asked[key].min(c));
                    prop_assert_eq!(*n, want, "exactly min(asked, cap) for {:?}", key);
                }
            }
            if let Some(cap) = overall_cap {
                for n in allowed_day.values() {
                    prop_assert!(*n <= cap);
                }
            }
        }
    }
}
