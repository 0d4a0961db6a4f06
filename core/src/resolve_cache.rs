//! The per-isolate cache of resolve answers, as a pure data structure (the Worker keeps one in
//! a thread-local and hands it the clock).
//!
//! Three guarantees, each property-tested:
//! - **No stale insert after a forget.** A resolve takes a [`Ticket`] before it reads storage
//!   and inserts with it; a `forget` in between (a save, a test, an uninstall) makes that
//!   insert a no-op, so an answer read before a change is never cached after it.
//! - **Nothing expired is served**, and expired entries are evicted, not kept.
//! - **Bounded in bytes**: when an insert would pass the budget, expired entries go first,
//!   then those closest to expiry.
//!
//! Values are whatever the caller stores (the Worker stores keys as `SecretString`, zeroized
//! when an entry is dropped).

use std::collections::HashMap;

/// Taken before reading storage; an insert with a ticket older than the last forget is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry<V> {
    expires_at: u64,
    size: usize,
    value: V,
}

pub struct ResolveCache<V> {
    entries: HashMap<(String, String), Entry<V>>,
    generation: u64,
    bytes: usize,
    max_bytes: usize,
    ttl_ms: u64,
}

impl<V: Clone> ResolveCache<V> {
    pub fn new(ttl_ms: u64, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            generation: 0,
            bytes: 0,
            max_bytes,
            ttl_ms,
        }
    }

    /// The answer for (tenant, provider) if one is cached and not expired at `now`.
    pub fn get(&mut self, tenant: &str, provider: &str, now: u64) -> Option<V> {
        let key = (tenant.to_owned(), provider.to_owned());
        match self.entries.get(&key) {
            Some(e) if e.expires_at > now => Some(e.value.clone()),
            Some(_) => {
                self.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Take before reading storage for an answer to insert.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation)
    }

    /// Caches `value` (of about `size` bytes) until `now + ttl`, unless something was forgotten
    /// since `ticket` was taken or the value alone is over the budget. Whether it was cached.
    pub fn insert(
        &mut self,
        tenant: &str,
        provider: &str,
        ticket: Ticket,
        value: V,
        size: usize,
        now: u64,
    ) -> bool {
        if ticket.0 != self.generation || size > self.max_bytes {
            return false;
        }
        let key = (tenant.to_owned(), provider.to_owned());
        self.remove(&key);
        self.make_room(size, now);
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                expires_at: now.saturating_add(self.ttl_ms),
                size,
                value,
            },
        );
        true
    }

    /// Drops the answer for (tenant, provider), and refuses inserts from earlier tickets.
    pub fn forget(&mut self, tenant: &str, provider: &str) {
        self.generation += 1;
        self.remove(&(tenant.to_owned(), provider.to_owned()));
    }

    /// Drops every answer for a provider (platform key or catalog change).
    pub fn forget_provider(&mut self, provider: &str) {
        self.generation += 1;
        let gone: Vec<_> = self
            .entries
            .keys()
            .filter(|(_, p)| p == provider)
            .cloned()
            .collect();
        for key in gone {
            self.remove(&key);
        }
    }

    /// Drops every answer for a tenant (a change to its policy over every provider).
    pub fn forget_tenant(&mut self, tenant: &str) {
        self.generation += 1;
        let gone: Vec<_> = self
            .entries
            .keys()
            .filter(|(t, _)| t == tenant)
            .cloned()
            .collect();
        for key in gone {
            self.remove(&key);
        }
    }

    /// Bytes held (the sum of the sizes given to `insert`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn remove(&mut self, key: &(String, String)) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.size;
        }
    }

    /// Evicts expired entries, then the ones closest to expiry, until `size` more bytes fit.
    fn make_room(&mut self, size: usize, now: u64) {
        if self.bytes + size <= self.max_bytes {
            return;
        }
        let expired: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
        if self.bytes + size <= self.max_bytes {
            return;
        }
        let mut by_expiry: Vec<_> = self
            .entries
            .iter()
            .map(|(k, e)| (e.expires_at, k.clone()))
            .collect();
        by_expiry.sort();
        for (_, key) in by_expiry {
            if self.bytes + size <= self.max_bytes {
                break;
            }
            self.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Resolve: take a ticket, then (after `forgets` forgets) insert.
        Resolve {
            who: u8,
            forget_between: bool,
            size: usize,
        },
        Forget {
            who: u8,
        },
        ForgetProvider,
        ForgetTenant {
            who: u8,
        },
        Advance {
            ms: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, any::<bool>(), 1usize..400).prop_map(|(who, forget_between, size)| {
                Op::Resolve {
                    who,
                    forget_between,
                    size,
                }
            }),
            (0u8..6).prop_map(|who| Op::Forget { who }),
            Just(Op::ForgetProvider),
            (0u8..6).prop_map(|who| Op::ForgetTenant { who }),
            (0u64..20_000).prop_map(|ms| Op::Advance { ms }),
        ]
    }

    fn tenant(who: u8) -> String {
        format!("t{who}")
    }

    proptest! {
        #[test]
        fn never_stale_never_expired_always_bounded(ops in proptest::collection::vec(op(), 1..80)) {
            const TTL: u64 = 30_000;
            const MAX: usize = 1_000;
            let mut cache: ResolveCache<u64> = ResolveCache::new(TTL, MAX);
            let mut now = 1_000u64;
            // What storage holds: a version per tenant, bumped by each change.
            let mut version = [0u64; 6];
            for op in ops {
                match op {
                    Op::Resolve { who, forget_between, size } => {
                        let t = tenant(who);
                        let ticket = cache.ticket();
                        let read = version[who as usize];
                        if forget_between {
                            // A save lands between the read and the insert.
                            version[who as usize] += 1;
                            cache.forget(&t, "p");
                        }
                        cache.insert(&t, "p", ticket, read, size, now);
                    }
                    Op::Forget { who } => {
                        version[who as usize] += 1;
                        cache.forget(&tenant(who), "p");
                    }
                    Op::ForgetProvider => {
                        for v in &mut version { *v += 1; }
                        cache.forget_provider("p");
                    }
                    Op::ForgetTenant { who } => {
                        version[who as usize] += 1;
                        cache.forget_tenant(&tenant(who));
                    }
                    Op::Advance { ms } => now += ms,
                }
                prop_assert!(cache.bytes() <= MAX);
                for who in 0..6u8 {
                    if let Some(v) = cache.get(&tenant(who), "p", now) {
                        // Never an answer older than the last change in this isolate.
                        prop_assert_eq!(v, version[who as usize]);
                    }
                }
            }
        }
    }

    #[test]
    fn expired_entries_are_not_served_and_are_evicted() {
        let mut c: ResolveCache<&str> = ResolveCache::new(100, 1_000);
        let t = c.ticket();
        assert!(c.insert("a", "p", t, "old", 10, 0));
        assert_eq!(c.get("a", "p", 50), Some("old"));
        assert_eq!(c.get("a", "p", 100), None);
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn an_insert_after_a_forget_with_an_old_ticket_is_dropped() {
        let mut c: ResolveCache<&str> = ResolveCache::new(100, 1_000);
        let before = c.ticket();
        c.forget("a", "p");
        assert!(!c.insert("a", "p", before, "stale", 10, 0));
        assert_eq!(c.get("a", "p", 1), None);
        let after = c.ticket();
        assert!(c.insert("a", "p", after, "fresh", 10, 0));
        assert_eq!(c.get("a", "p", 1), Some("fresh"));
    }

    #[test]
    fn the_budget_evicts_the_soonest_to_expire() {
        let mut c: ResolveCache<u8> = ResolveCache::new(100, 25);
        for (i, now) in [(1u8, 0u64), (2, 10), (3, 20)] {
            let t = c.ticket();
            assert!(c.insert(&format!("t{i}"), "p", t, i, 10, now));
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("t1", "p", 30), None);
        assert_eq!(c.get("t3", "p", 30), Some(3));
    }
}
