//! Platform-admin routes about tenants: the per-tenant fallback policy
//! (`/v1/admin/tenants/{tenant}/providers/{key}/policy`) and usage (`/v1/admin/usage`).

use byok_core::api::{
    PolicyRequest, PolicyView, ProblemKind, TenantPolicyRequest, TenantPolicyView, UsageList,
    UsageRow,
};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::resolve::{PlatformFallback, Source};
use byok_core::usage::parse_day;
use worker::Request;

use crate::audit;
use crate::auth::{Principal, Role};
use crate::catalog::{key_from_path, stored_entry};
use crate::http::{json, problem, read_json, ApiError, ApiResult};
use crate::store;
use crate::util::{now_millis, rfc3339};
use crate::App;

/// At most this many rows per usage answer (narrow `since` for more).
const USAGE_LIMIT: i64 = 10_000;

fn tenant_from_path(segment: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(segment).map_err(|_| {
        problem(
            ProblemKind::NotFound,
            format!("'{}' is not a tenant id.", segment.escape_default()),
        )
    })
}

async fn view(app: &App, tenant: TenantId, key: ProviderKey) -> Result<PolicyView, ApiError> {
    let (policy, entry) = futures_util::future::join(
        store::policy(app.db_for(tenant.as_str()), tenant.as_str(), key.as_str()),
        stored_entry(app, &key),
    )
    .await;
    let (policy, (provider_row, entry)) = (policy?, entry?);
    let platform_fallback = policy
        .as_ref()
        .and_then(|p| PlatformFallback::parse(&p.platform_fallback))
        .unwrap_or_default();
    let today = crate::quota::today(app, &tenant, Some(&key)).await?;
    Ok(PolicyView {
        platform_key_allowed: platform_fallback == PlatformFallback::Inherit
            && entry.spec().platform_fallback
            && provider_row.active == 1,
        platform_daily_cap: policy
            .as_ref()
            .and_then(|p| p.platform_daily_cap)
            .map(|c| c.clamp(0.0, f64::from(u32::MAX)) as u32),
        platform_resolves_today: today.provider,
        tenant,
        provider: key,
        platform_fallback,
        updated_at: policy.as_ref().map(|p| p.updated_at.clone()),
        updated_by: policy.map(|p| p.updated_by),
    })
}

/// `GET /v1/admin/tenants/{tenant}/providers/{key}/policy`.
pub async fn get(app: &App, who: &Principal, tenant: &str, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let (tenant, key) = (tenant_from_path(tenant)?, key_from_path(key)?);
    Ok(json(200, &view(app, tenant, key).await?)?)
}

/// `PUT /v1/admin/tenants/{tenant}/providers/{key}/policy`.
pub async fn put(
    req: &mut Request,
    app: &App,
    who: &Principal,
    tenant: &str,
    key: &str,
) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let (tenant, key) = (tenant_from_path(tenant)?, key_from_path(key)?);
    let body: PolicyRequest = read_json(req, 1024).await?;
    stored_entry(app, &key).await?;
    let policy = body.platform_fallback.as_str();
    let outcome = match body.platform_daily_cap {
        None => policy.to_owned(),
        Some(cap) => format!("{policy}; platform key capped at {cap} resolves a day"),
    };
    let mut entry = audit::entry(who, audit::Scope::Platform, &key, "set-policy", &outcome);
    entry.tenant = Some(tenant.clone());
    store::set_policy(
        app.db_for(tenant.as_str()),
        tenant.as_str(),
        key.as_str(),
        policy,
        body.platform_daily_cap,
        &rfc3339(now_millis()),
        &who.sub,
        &entry,
    )
    .await?;
    crate::resolve::forget(&tenant, &key);
    Ok(json(200, &view(app, tenant, key).await?)?)
}

async fn tenant_view(app: &App, tenant: TenantId) -> Result<TenantPolicyView, ApiError> {
    let (row, today) = futures_util::future::join(
        store::tenant_cap(app.db_for(tenant.as_str()), tenant.as_str()),
        crate::quota::today(app, &tenant, None),
    )
    .await;
    let (row, today) = (row?, today?);
    Ok(TenantPolicyView {
        tenant,
        platform_daily_cap: row
            .as_ref()
            .map(|r| r.platform_daily_cap.clamp(0.0, f64::from(u32::MAX)) as u32),
        platform_resolves_today: today.overall,
        resets_at: rfc3339(byok_core::quota::resets_at_ms(byok_core::quota::day_of(
            now_millis(),
        ))),
        updated_at: row.as_ref().map(|r| r.updated_at.clone()),
        updated_by: row.map(|r| r.updated_by),
    })
}

/// `GET /v1/admin/tenants/{tenant}/policy`: the tenant's overall cap on the platform key and
/// today's count.
pub async fn get_tenant(app: &App, who: &Principal, tenant: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let tenant = tenant_from_path(tenant)?;
    Ok(json(200, &tenant_view(app, tenant).await?)?)
}

/// `PUT /v1/admin/tenants/{tenant}/policy` `{platform_daily_cap}`: caps the platform-key
/// resolves of every provider together (null removes the cap).
pub async fn put_tenant(req: &mut Request, app: &App, who: &Principal, tenant: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let tenant = tenant_from_path(tenant)?;
    let body: TenantPolicyRequest = read_json(req, 1024).await?;
    let outcome = match body.platform_daily_cap {
        None => "no overall cap on the platform key".to_owned(),
        Some(cap) => format!("platform key capped at {cap} resolves a day, all providers"),
    };
    let entry = byok_core::api::AuditEntry {
        at: rfc3339(now_millis()),
        actor: who.sub.clone(),
        tenant: Some(tenant.clone()),
        provider: None,
        action: "set-tenant-policy".into(),
        outcome,
    };
    store::set_tenant_cap(
        app.db_for(tenant.as_str()),
        tenant.as_str(),
        body.platform_daily_cap,
        &entry.at,
        &who.sub,
        &entry,
    )
    .await?;
    crate::resolve::forget_tenant(&tenant);
    Ok(json(200, &tenant_view(app, tenant).await?)?)
}

/// `GET /v1/admin/usage?since=YYYY-MM-DD`: resolves and reports per day, tenant, provider
/// and source, from `since` (default: the last 30 days).
pub async fn usage(req: &Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let url = req.url()?;
    let since = match url.query_pairs().find(|(k, _)| k == "since") {
        Some((_, v)) => parse_day(&v).ok_or_else(|| {
            problem(
                ProblemKind::ValidationFailed,
                "since must be a calendar day, YYYY-MM-DD (UTC).",
            )
        })?,
        None => byok_core::usage::day_of(now_millis().saturating_sub(30 * 86_400_000)),
    };
    // Each database's first rows in order, then the first of those, in the same order.
    let mut rows = Vec::new();
    for db in app.shards() {
        rows.extend(store::usage_since(db, &since, USAGE_LIMIT).await?);
    }
    rows.sort_by(|a, b| {
        (&a.day, &a.tenant, &a.provider, &a.source).cmp(&(
            &b.day,
            &b.tenant,
            &b.provider,
            &b.source,
        ))
    });
    rows.truncate(usize::try_from(USAGE_LIMIT).unwrap_or(usize::MAX));
    let usage = rows
        .into_iter()
        .filter_map(|r| {
            Some(UsageRow {
                tenant: TenantId::parse(&r.tenant).ok()?,
                provider: ProviderKey::parse(&r.provider).ok()?,
                source: match r.source.as_str() {
                    "tenant" => Source::Tenant,
                    _ => Source::Platform,
                },
                day: r.day,
                resolves: r.resolves.max(0) as u64,
                reports: r.reports.max(0) as u64,
                rejections: r.rejections.max(0) as u64,
            })
        })
        .collect();
    Ok(json(200, &UsageList { since, usage })?)
}
