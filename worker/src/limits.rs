//! Rate limits (`byok_core::limits` decides): each limited action is counted in the user's and
//! then the tenant's bucket of the Workers Rate Limiting bindings, before anything is stored or
//! tested. A binding that is missing or fails lets the request through and logs why: a
//! broken limiter must not take the service down with it.

use byok_core::limits::{buckets, decide, Action, TENANT_LIMITER, USER_LIMITER};

use crate::http::ApiError;
use crate::App;

/// Counts `action` by `user` of `tenant`; 429 (with `Retry-After`) when over a limit.
pub async fn check(app: &App, action: Action, tenant: &str, user: &str) -> Result<(), ApiError> {
    let b = buckets(action, tenant, user);
    let asked = crate::util::timed("rate-limit", async {
        // The user's bucket first; the tenant's only if the user's allowed, so a request
        // refused by the user's own limit spends nothing of the tenant's.
        let user_ok = within(app, USER_LIMITER, b.user).await;
        let tenant_ok = !user_ok || within(app, TENANT_LIMITER, b.tenant).await;
        (tenant_ok, user_ok)
    })
    .await;
    decide(action, asked.0, asked.1).map_err(|r| ApiError(r.problem()))
}

async fn within(app: &App, binding: &str, key: String) -> bool {
    let limiter = match app.env.rate_limiter(binding) {
        Ok(l) => l,
        Err(_) => {
            worker::console_error!("rate limit binding {binding} is missing: not limiting");
            return true;
        }
    };
    match limiter.limit(key).await {
        Ok(outcome) => outcome.success,
        Err(e) => {
            worker::console_error!("rate limit binding {binding} failed: {e}; not limiting");
            true
        }
    }
}
