//! Audit rows: who did what to which integration or entry, when, and how it ended.

use byok_core::api::AuditEntry;
use byok_core::ids::ProviderKey;

use crate::auth::Principal;
use crate::http::ApiError;
use crate::store;
use crate::util::{now_millis, rfc3339};
use crate::App;

/// Whose log a row belongs to.
#[derive(Clone, Copy)]
pub enum Scope {
    /// The caller's tenant (integrations).
    Tenant,
    /// The platform (catalog and platform-key changes).
    Platform,
}

pub fn entry(
    who: &Principal,
    scope: Scope,
    provider: &ProviderKey,
    action: &str,
    outcome: &str,
) -> AuditEntry {
    AuditEntry {
        at: rfc3339(now_millis()),
        actor: who.sub.clone(),
        tenant: match scope {
            Scope::Tenant => Some(who.tenant.clone()),
            Scope::Platform => None,
        },
        provider: Some(provider.clone()),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
    }
}

pub async fn record(
    app: &App,
    who: &Principal,
    scope: Scope,
    provider: &ProviderKey,
    action: &str,
    outcome: &str,
) -> Result<(), ApiError> {
    let entry = entry(who, scope, provider, action, outcome);
    store::audit(app.db_of(entry.tenant.as_ref()), &entry).await?;
    Ok(())
}
