//! Rate limits: what a tenant, and each of its users, may make the service do per minute.
//!
//! The actions that write or cost the service or a provider something are limited (install,
//! with or without a key; uninstall; save a key; test; usage reports); resolve is not, it is the
//! callers' hot path. Each action is counted in two buckets, one for the tenant and one for the
//! user (a usage report's user is the service token's subject), by the Workers Rate Limiting
//! bindings named here. The user's bucket is asked first and the tenant's only when the user's
//! allows, so a request refused by a user's own limit never spends the budget that
//! user shares with the rest of the tenant. Over either limit, the request is refused before
//! anything is stored or tested, with 429 and `Retry-After`.

use crate::api::{Problem, ProblemKind};

/// The binding that counts per tenant, and the one that counts per user (`wrangler.toml`).
pub const TENANT_LIMITER: &str = "TENANT_LIMITER";
pub const USER_LIMITER: &str = "USER_LIMITER";
/// The bindings' period: counts are per minute, so a refusal says to wait that long.
pub const PERIOD_S: u32 = 60;

/// A limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Install,
    Uninstall,
    SaveKey,
    Test,
    UsageReport,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Install,
        Action::Uninstall,
        Action::SaveKey,
        Action::Test,
        Action::UsageReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Uninstall => "uninstall",
            Action::SaveKey => "save",
            Action::Test => "test",
            Action::UsageReport => "report",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Action::Install => "installs",
            Action::Uninstall => "uninstalls",
            Action::SaveKey => "key saves",
            Action::Test => "connection tests",
            Action::UsageReport => "usage reports",
        }
    }
}

/// The two bucket keys an action is counted under. Each names the action and its scope, so no
/// two actions, tenants or users ever share a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub tenant: String,
    pub user: String,
}

/// The buckets for `action` by `user` of `tenant`. Ids are length-prefixed so that no pair of
/// (tenant, user) can produce another pair's key.
pub fn buckets(action: Action, tenant: &str, user: &str) -> Buckets {
    Buckets {
        tenant: format!("{}:t:{}:{tenant}", action.as_str(), tenant.len()),
        user: format!(
            "{}:u:{}:{tenant}:{}:{user}",
            action.as_str(),
            tenant.len(),
            user.len()
        ),
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    User,
}

/// A refusal: 429 with `Retry-After`, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub scope: Scope,
    pub action: Action,
    pub retry_after_s: u32,
}

impl Refused {
    pub fn problem(&self) -> Problem {
        let whose = match self.scope {
            Scope::Tenant => "this account",
            Scope::User => "you",
        };
        let mut p = Problem::new(
            ProblemKind::RateLimited,
            format!(
                "Too many {} from {whose} in the last minute: nothing was changed. Try again in {} seconds.",
                self.action.words(),
                self.retry_after_s
            ),
        );
        p.retry_after_s = Some(self.retry_after_s);
        p
    }
}

/// The answer for `action` given what each bucket said (`true`: within its limit; a bucket not
/// asked, because the user's refused, counts as within). The user's limit is named first: it is
/// the one the caller can do something about.
pub fn decide(action: Action, tenant_ok: bool, user_ok: bool) -> Result<(), Refused> {
    let refused = |scope| Refused {
        scope,
        action,
        retry_after_s: PERIOD_S,
    };
    match (tenant_ok, user_ok) {
        (_, false) => Err(refused(Scope::User)),
        (false, true) => Err(refused(Scope::Tenant)),
        (true, true) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn over_either_limit_is_429_with_retry_after_in_words() {
        assert_eq!(decide(Action::Test, true, true), Ok(()));
        let p = decide(Action::Test, true, false)
            .expect_err("user over")
            .problem();
        assert_eq!((p.status, p.retry_after_s), (429, Some(60)));
        assert_eq!(p.kind, "/problems/rate-limited");
        assert!(
            p.detail.contains("Too many connection tests from you"),
            "{}",
            p.detail
        );
        let p = decide(Action::SaveKey, false, true)
            .expect_err("tenant over")
            .problem();
        assert!(
            p.detail.contains("key saves from this account"),
            "{}",
            p.detail
        );
        assert!(p.detail.contains("nothing was changed"), "{}", p.detail);
    }

    proptest! {
        /// Distinct (action, tenant, user) never share a bucket, whatever the ids contain.
        #[test]
        fn buckets_never_collide(
            a in 0usize..5, b in 0usize..5,
            t1 in "[a-z:]{0,6}", t2 in "[a-z:]{0,6}",
            u1 in "[a-z:]{0,6}", u2 in "[a-z:]{0,6}",
        ) {
            let (x, y) = (buckets(Action::ALL[a], &t1, &u1), buckets(Action::ALL[b], &t2, &u2));
            if (a, &t1) != (b, &t2) {
                prop_assert_ne!(&x.tenant, &y.tenant);
            }
            if (a, &t1, &u1) != (b, &t2, &u2) {
                prop_assert_ne!(&x.user, &y.user);
            }
            prop_assert_ne!(&x.tenant, &y.user);
        }
    }
}
