//! `POST /v1/resolve` (getAiConfig): the key an AI edge function should use.
//!
//! On the path of every AI call, so answers are cached in the isolate for
//! [`CACHE_TTL_MS`] ([`byok_core::resolve_cache`]: a resolve that read storage before a change
//! in this isolate never caches its answer after it; expired entries are evicted; the cache is
//! bounded in bytes; keys are held as secrets, zeroized when dropped). Every write in this
//! isolate (install, save, test, uninstall, platform key) drops the affected entries at once,
//! so the saving isolate is never stale; another isolate may serve the previous answer for at
//! most `CACHE_TTL_MS` after a change.
//!
//! Answers carry `Cache-Control: private, max-age=`[`CLIENT_MAX_AGE_S`], which the clients
//! (`clients/ts`, `clients/rust`) honour in their own isolate: a caller may use a key up to
//! `CACHE_TTL_MS + CLIENT_MAX_AGE_S` after it changed. Each answer is counted
//! ([`crate::usage`]) without a storage write on the request's path.

use std::cell::RefCell;
use std::collections::BTreeMap;

use byok_core::api::{ProblemKind, ResolveRequest, ResolveResponse};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::Owner;
use byok_core::quota::Caps;
use byok_core::resolve::{
    resolve as decide, PlatformFallback, PlatformSide, Resolution, Source, TenantSide,
};
use byok_core::resolve_cache::ResolveCache;
use byok_core::status::Status;
use byok_core::{ExposeSecret, SecretString};
use worker::{Context, Request, Response};

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
/// How long a client may keep an answer (`Cache-Control: private, max-age`).
pub const CLIENT_MAX_AGE_S: u64 = 30;
/// The cache's budget in this isolate (keys, fields and their names, plus a fixed overhead
/// per entry).
const CACHE_MAX_BYTES: usize = 4 << 20;
const ENTRY_OVERHEAD: usize = 128;

/// A cached answer: the key and secret fields are held as secrets (zeroized on drop), and a
/// response is built from it for each hit.
#[derive(Clone)]
struct Cached {
    provider: ProviderKey,
    api_key: SecretString,
    fields: BTreeMap<String, SecretString>,
    source: Source,
    status: Option<Status>,
    /// The tenant's caps on the platform key, counted on every platform answer (hit or not).
    caps: Caps,
    /// The provider's name, for the words of a refusal.
    name: String,
}

impl Cached {
    fn of(r: &ResolveResponse, caps: Caps, name: String) -> (Self, usize) {
        let size = ENTRY_OVERHEAD
            + r.api_key.len()
            + r.fields
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let cached = Cached {
            provider: r.provider.clone(),
            api_key: SecretString::from(r.api_key.clone()),
            fields: r
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
                .collect(),
            source: r.source,
            status: r.status,
            caps,
            name,
        };
        (cached, size)
    }

    fn response(&self) -> ResolveResponse {
        ResolveResponse {
            provider: self.provider.clone(),
            api_key: self.api_key.expose_secret().to_owned(),
            fields: self
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
                .collect(),
            source: self.source,
            status: self.status,
        }
    }
}

thread_local! {
    static CACHE: RefCell<ResolveCache<Cached>> =
        RefCell::new(ResolveCache::new(CACHE_TTL_MS, CACHE_MAX_BYTES));
}

/// Drops this isolate's cached answer for one tenant and provider (and any answer being read
/// right now, which will not be cached).
pub fn forget(tenant: &TenantId, provider: &ProviderKey) {
    CACHE.with(|c| c.borrow_mut().forget(tenant.as_str(), provider.as_str()));
}

/// Drops every cached answer for a tenant (a policy over every provider changed).
pub fn forget_tenant(tenant: &TenantId) {
    CACHE.with(|c| c.borrow_mut().forget_tenant(tenant.as_str()));
}

/// Drops every cached answer for a provider (platform key or catalog change).
pub fn forget_provider(provider: &ProviderKey) {
    CACHE.with(|c| c.borrow_mut().forget_provider(provider.as_str()));
}

pub async fn resolve(req: &mut Request, app: &App, who: &Principal, ctx: &Context) -> ApiResult {
    who.require(&[Role::Service])?;
    let body: ResolveRequest = read_json(req, 4 * 1024).await?;
    who.require_scope(&body.tenant, &body.provider)?;
    let (tenant, provider) = (body.tenant.as_str(), body.provider.as_str());
    let now = now_millis();
    let (answer, caps, name) = match CACHE.with(|c| c.borrow_mut().get(tenant, provider, now)) {
        Some(hit) => (hit.response(), hit.caps, hit.name),
        None => {
            // Taken before reading storage: a save in this isolate meanwhile voids the insert.
            let ticket = CACHE.with(|c| c.borrow().ticket());
            let (answer, caps, name) = lookup(app, &body).await?;
            let (cached, size) = Cached::of(&answer, caps, name.clone());
            CACHE.with(|c| {
                c.borrow_mut()
                    .insert(tenant, provider, ticket, cached, size, now_millis())
            });
            (answer, caps, name)
        }
    };
    // The platform key under a cap is counted on every answer, cached or not; a tenant's own
    // key never is.
    if answer.source == Source::Platform && caps.any() {
        crate::quota::take(app, &body.tenant, &body.provider, &name, caps).await?;
    }
    crate::usage::resolved(app, ctx, tenant, provider, answer.source, now);
    cacheable(json(200, &answer)?)
}

fn cacheable(resp: Response) -> ApiResult {
    resp.headers().set(
        "cache-control",
        &format!("private, max-age={CLIENT_MAX_AGE_S}"),
    )?;
    Ok(resp)
}

/// The answer, the tenant's caps on the platform key, and the provider's name.
async fn lookup(
    app: &App,
    body: &ResolveRequest,
) -> Result<(ResolveResponse, Caps, String), ApiError> {
    let (row, provider) = futures_util::future::join(
        store::integration(
            app.db_for(body.tenant.as_str()),
            body.tenant.as_str(),
            body.provider.as_str(),
        ),
        store::provider_for_tenant(
            app.home(),
            app.db_for(body.tenant.as_str()),
            body.provider.as_str(),
            body.tenant.as_str(),
        ),
    )
    .await;
    let (row, provider) = (row?, provider?);
    let tenant_side = match &row {
        None => TenantSide::NotInstalled,
        Some(r) => TenantSide::installed(status_of(r)?),
    };
    let caps = provider
        .as_ref()
        .map(store::ProviderRow::caps)
        .unwrap_or_default();
    let name = match &provider {
        Some(p) => entry_of(p)?.spec().name.clone(),
        None => body.provider.as_str().to_owned(),
    };
    let platform_side = match &provider {
        None => None,
        Some(p) => Some(PlatformSide {
            active: p.active == 1,
            fallback_allowed: entry_of(p)?.spec().platform_fallback,
            platform_key_set: p.platform_secret.is_some(),
            tenant_policy: p
                .tenant_policy
                .as_deref()
                .and_then(PlatformFallback::parse)
                .unwrap_or_default(),
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
            Ok((
                ResolveResponse {
                    provider: body.provider.clone(),
                    api_key: opened.secret.expose_secret().to_owned(),
                    fields: opened.fields.into_iter().collect(),
                    source: Source::Tenant,
                    status: Some(status),
                },
                caps,
                name,
            ))
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
            Ok((
                ResolveResponse {
                    provider: body.provider.clone(),
                    api_key: opened.secret.expose_secret().to_owned(),
                    fields: opened.fields.into_iter().collect(),
                    source: Source::Platform,
                    status: None,
                },
                caps,
                name,
            ))
        }
        Resolution::NotFound(why) => Err(ApiError(
            why.problem(body.tenant.as_str(), body.provider.as_str()),
        )),
    }
}
