//! `POST /v1/resolve` (getAiConfig): the key an AI edge function should use.
//!
//! On the path of every AI call, so answers are cached in the isolate for
//! [`CACHE_TTL_MS`]. Every write in this isolate (install, save, test, uninstall, platform
//! key) drops the affected entries at once, so the saving isolate is never stale; another
//! isolate may serve the previous answer for at most `CACHE_TTL_MS` after a change.

use std::cell::RefCell;
use std::collections::HashMap;

use byok_core::api::{ProblemKind, ResolveRequest, ResolveResponse};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::Owner;
use byok_core::resolve::{resolve as decide, PlatformSide, Resolution, Source, TenantSide};
use byok_core::ExposeSecret;
use worker::Request;

use crate::auth::{Principal, Role};
use crate::catalog::entry_of;
use crate::credentials;
use crate::http::{json, problem, read_json, ApiError, ApiResult};
use crate::integrations::status_of;
use crate::store;
use crate::util::now_millis;
use crate::App;

/// How long another isolate may serve a resolve answer after a change.
pub const CACHE_TTL_MS: u64 = 30_000;
const CACHE_MAX: usize = 10_000;

thread_local! {
    static CACHE: RefCell<HashMap<(String, String), (u64, ResolveResponse)>> = RefCell::new(HashMap::new());
}

/// Drops this isolate's cached answer for one tenant and provider.
pub fn forget(tenant: &TenantId, provider: &ProviderKey) {
    CACHE.with(|c| {
        c.borrow_mut()
            .remove(&(tenant.as_str().to_owned(), provider.as_str().to_owned()))
    });
}

/// Drops every cached answer for a provider (platform key or catalog change).
pub fn forget_provider(provider: &ProviderKey) {
    CACHE.with(|c| c.borrow_mut().retain(|(_, p), _| p != provider.as_str()));
}

pub async fn resolve(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::Service])?;
    let body: ResolveRequest = read_json(req, 4 * 1024).await?;
    let cache_key = (
        body.tenant.as_str().to_owned(),
        body.provider.as_str().to_owned(),
    );
    let now = now_millis();
    if let Some(hit) = CACHE.with(|c| {
        c.borrow()
            .get(&cache_key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r.clone())
    }) {
        return Ok(json(200, &hit)?);
    }
    let answer = lookup(app, &body).await?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(cache_key, (now + CACHE_TTL_MS, answer.clone()));
    });
    Ok(json(200, &answer)?)
}

async fn lookup(app: &App, body: &ResolveRequest) -> Result<ResolveResponse, ApiError> {
    let (row, provider) = futures_util::future::join(
        store::integration(&app.db, body.tenant.as_str(), body.provider.as_str()),
        store::provider(&app.db, body.provider.as_str()),
    )
    .await;
    let (row, provider) = (row?, provider?);
    let tenant_side = match &row {
        None => TenantSide::NotInstalled,
        Some(r) => TenantSide::installed(status_of(r)?),
    };
    let platform_side = match &provider {
        None => None,
        Some(p) => Some(PlatformSide {
            active: p.active == 1,
            fallback_allowed: entry_of(p)?.spec().platform_fallback,
            platform_key_set: p.platform_secret.is_some(),
        }),
    };
    match decide(tenant_side, platform_side) {
        Resolution::Tenant { status } => {
            let r = row
                .as_ref()
                .ok_or_else(|| problem(ProblemKind::Internal, "Resolve lost its row."))?;
            let secret = r
                .secret
                .as_deref()
                .ok_or_else(|| problem(ProblemKind::Internal, "A connected row has no key."))?;
            let opened = credentials::open(
                &app.keyring,
                Owner::Tenant(&body.tenant),
                &body.provider,
                secret,
                r.fields.as_deref(),
            )?;
            Ok(ResolveResponse {
                provider: body.provider.clone(),
                api_key: opened.secret.expose_secret().to_owned(),
                fields: opened.fields.into_iter().collect(),
                source: Source::Tenant,
                status: Some(status),
            })
        }
        Resolution::Platform => {
            let p = provider
                .as_ref()
                .ok_or_else(|| problem(ProblemKind::Internal, "Resolve lost its provider."))?;
            let secret = p
                .platform_secret
                .as_deref()
                .ok_or_else(|| problem(ProblemKind::Internal, "No platform key."))?;
            let opened = credentials::open(
                &app.keyring,
                Owner::Platform,
                &body.provider,
                secret,
                p.platform_fields.as_deref(),
            )?;
            Ok(ResolveResponse {
                provider: body.provider.clone(),
                api_key: opened.secret.expose_secret().to_owned(),
                fields: opened.fields.into_iter().collect(),
                source: Source::Platform,
                status: None,
            })
        }
        Resolution::NotFound(why) => Err(problem(
            ProblemKind::NotFound,
            format!(
                "No key for '{}' and tenant '{}': {why}.",
                body.provider, body.tenant
            ),
        )),
    }
}
