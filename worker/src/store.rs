//! D1 (the source of truth) and KV: every query the routes make, and nothing else.

use byok_core::api::AuditEntry;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Result};

use crate::util::Counted;

/// Whether a write changed a row.
fn changed(r: &worker::D1Result) -> Result<bool> {
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// An audit row's id (`byok_core::shard::audit_id`): the floor bound at `$floor` (the time
/// and the row's database, [`audit_id_floor`]), or the first id past the database's last one
/// with the floor's remainder (the last may be a row copied from another database).
/// `MAX(id)` of the rowid is one read of the table's last page.
macro_rules! audit_id {
    ($floor:literal) => {
        concat!(
            "MAX(",
            $floor,
            ", (COALESCE((SELECT MAX(id) FROM audit_log), 0) / 64 + 1) * 64 + ",
            $floor,
            " % 64)"
        )
    };
}

/// The insert of an event (?1-?8, bound by [`event_params`]) under the guard that follows it:
/// a `pending` one starts its first series now (`attempted_at`, from the event's time).
macro_rules! insert_event_where {
    ($guard:literal) => {
        concat!(
            "INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery, attempted_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
            CASE WHEN ?8 = 'pending' THEN CAST(strftime('%s', ?7) AS INTEGER) * 1000 END
     WHERE ",
            $guard
        )
    };
}

pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

pub fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

pub fn blob(b: Option<&[u8]>) -> JsValue {
    b.map_or(JsValue::NULL, |b| js_sys::Uint8Array::from(b).into())
}

pub fn int(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// Unix ms, or NULL.
pub fn opt_ms(ms: Option<u64>) -> JsValue {
    ms.map_or(JsValue::NULL, |ms| {
        int(i64::try_from(ms).unwrap_or(i64::MAX))
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderRow {
    pub key: String,
    pub spec: String,
    pub active: i64,
    pub logo_type: Option<String>,
    pub platform_secret: Option<Vec<u8>>,
    pub platform_fields: Option<String>,
    /// The entry's words in other languages (JSON), stored apart from the spec.
    #[serde(default)]
    pub translations: Option<String>,
    /// The platform key's mask (JSON), when one is set.
    #[serde(default)]
    pub platform_mask: Option<String>,
    /// What the platform key's last test left, and when a test of it last concluded.
    #[serde(default)]
    pub platform_status: Option<String>,
    #[serde(default)]
    pub platform_verified_at: Option<String>,
    /// A tenant's fallback policy for this provider, when the query asked for one.
    #[serde(default)]
    pub tenant_policy: Option<String>,
    /// The tenant's daily cap on this provider's platform key, when the query asked.
    #[serde(default)]
    pub provider_cap: Option<f64>,
    /// The tenant's daily cap on every platform key, when the query asked.
    #[serde(default)]
    pub overall_cap: Option<f64>,
}

impl ProviderRow {
    /// The caps on this tenant's platform-key resolves (from [`provider_for_tenant`]).
    pub fn caps(&self) -> byok_core::quota::Caps {
        let cap = |c: Option<f64>| c.map(|n| n.clamp(0.0, f64::from(u32::MAX)) as u32);
        byok_core::quota::Caps {
            provider: cap(self.provider_cap),
            overall: cap(self.overall_cap),
        }
    }
}

const PROVIDER_COLUMNS: &str =
    "key, spec, active, logo_type, platform_secret, platform_fields, platform_mask, translations, platform_status, platform_verified_at";

pub(crate) fn provider_row_sql() -> String {
    format!("SELECT {PROVIDER_COLUMNS} FROM integration_providers WHERE key = ?1")
}

pub async fn provider(db: &D1Database, key: &str) -> Result<Option<ProviderRow>> {
    db.prepare(provider_row_sql())
        .bind(&[text(key)])?
        .first::<ProviderRow>(None)
        .await
        .counted()
}

/// One tenant's limits on a provider's platform key (?1 provider, ?2 tenant): its fallback
/// policy and its caps, read from the tenant's own database; one row, NULLs where unset.
pub(crate) const TENANT_LIMITS: &str = "SELECT
       (SELECT platform_fallback FROM tenant_policies WHERE tenant = ?2 AND provider = ?1) AS tenant_policy,
       (SELECT platform_daily_cap FROM tenant_policies WHERE tenant = ?2 AND provider = ?1) AS provider_cap,
       (SELECT platform_daily_cap FROM tenant_caps WHERE tenant = ?2) AS overall_cap";

#[derive(Debug, Default, Deserialize)]
struct TenantLimits {
    tenant_policy: Option<String>,
    provider_cap: Option<f64>,
    overall_cap: Option<f64>,
}

/// An entry (from `home`) with one tenant's fallback policy and caps for it (from
/// `tenant_db`), read side by side: what resolve needs from storage beside the key's row.
pub async fn provider_for_tenant(
    home: &D1Database,
    tenant_db: &D1Database,
    key: &str,
    tenant: &str,
) -> Result<Option<ProviderRow>> {
    let limits = async {
        tenant_db
            .prepare(TENANT_LIMITS)
            .bind(&[text(key), text(tenant)])?
            .first::<TenantLimits>(None)
            .await
            .counted()
    };
    let (row, limits) = futures_util::future::join(provider(home, key), limits).await;
    let limits = limits?.unwrap_or_default();
    Ok(row?.map(|row| ProviderRow {
        tenant_policy: limits.tenant_policy,
        provider_cap: limits.provider_cap,
        overall_cap: limits.overall_cap,
        ..row
    }))
}

#[derive(Debug, Clone, Deserialize)]
pub struct PolicyRow {
    pub platform_fallback: String,
    pub updated_at: String,
    pub updated_by: String,
    #[serde(default)]
    pub platform_daily_cap: Option<f64>,
}

pub(crate) const POLICY: &str = "SELECT platform_fallback, updated_at, updated_by, platform_daily_cap FROM tenant_policies WHERE tenant = ?1 AND provider = ?2";

pub async fn policy(db: &D1Database, tenant: &str, provider: &str) -> Result<Option<PolicyRow>> {
    db.prepare(POLICY)
        .bind(&[text(tenant), text(provider)])?
        .first::<PolicyRow>(None)
        .await
        .counted()
}

pub(crate) const DELETE_POLICY: &str =
    "DELETE FROM tenant_policies WHERE tenant = ?1 AND provider = ?2";

pub(crate) const UPSERT_POLICY: &str = "INSERT INTO tenant_policies (tenant, provider, platform_fallback, updated_at, updated_by, platform_daily_cap) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, provider) DO UPDATE SET platform_fallback = excluded.platform_fallback, updated_at = excluded.updated_at, updated_by = excluded.updated_by, platform_daily_cap = excluded.platform_daily_cap";

/// Sets a policy (`inherit` removes the row: nothing set means inherit) with its audit row.
#[allow(clippy::too_many_arguments)]
pub async fn set_policy(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    policy: &str,
    cap: Option<u32>,
    now: &str,
    by: &str,
    audit: &AuditEntry,
) -> Result<()> {
    let write = if policy == "inherit" && cap.is_none() {
        db.prepare(DELETE_POLICY)
            .bind(&[text(tenant), text(provider)])?
    } else {
        db.prepare(UPSERT_POLICY).bind(&[
            text(tenant),
            text(provider),
            text(policy),
            text(now),
            text(by),
            cap.map_or(JsValue::NULL, |c| int(i64::from(c))),
        ])?
    };
    db.batch(vec![write, audit_statement(db, audit)?])
        .await
        .counted()?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub struct TenantCapRow {
    pub platform_daily_cap: f64,
    pub updated_at: String,
    pub updated_by: String,
}

pub(crate) const TENANT_CAP: &str =
    "SELECT platform_daily_cap, updated_at, updated_by FROM tenant_caps WHERE tenant = ?1";

pub async fn tenant_cap(db: &D1Database, tenant: &str) -> Result<Option<TenantCapRow>> {
    db.prepare(TENANT_CAP)
        .bind(&[text(tenant)])?
        .first::<TenantCapRow>(None)
        .await
        .counted()
}

pub(crate) const DELETE_TENANT_CAP: &str = "DELETE FROM tenant_caps WHERE tenant = ?1";

pub(crate) const UPSERT_TENANT_CAP: &str = "INSERT INTO tenant_caps (tenant, platform_daily_cap, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant) DO UPDATE SET platform_daily_cap = excluded.platform_daily_cap,
                   updated_at = excluded.updated_at, updated_by = excluded.updated_by";

/// Sets (or, with `None`, removes) a tenant's overall daily cap on platform-key resolves.
pub async fn set_tenant_cap(
    db: &D1Database,
    tenant: &str,
    cap: Option<u32>,
    now: &str,
    by: &str,
    audit: &AuditEntry,
) -> Result<()> {
    let write = match cap {
        None => db.prepare(DELETE_TENANT_CAP).bind(&[text(tenant)])?,
        Some(c) => db.prepare(UPSERT_TENANT_CAP).bind(&[
            text(tenant),
            int(i64::from(c)),
            text(now),
            text(by),
        ])?,
    };
    db.batch(vec![write, audit_statement(db, audit)?])
        .await
        .counted()?;
    Ok(())
}

pub(crate) const CLAIM_RETEST: &str = "UPDATE integrations SET retest_claimed_at = ?3
             WHERE tenant = ?1 AND provider = ?2 AND secret IS NOT NULL
               AND (retest_claimed_at IS NULL OR retest_claimed_at <= ?4)";

/// Claims a report-driven re-test of a stored key: `true` for exactly one caller while no
/// claim is later than `claimable_before` (Unix ms).
pub async fn claim_retest(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    now_ms: u64,
    claimable_before: u64,
) -> Result<bool> {
    let r = db
        .prepare(CLAIM_RETEST)
        .bind(&[
            text(tenant),
            text(provider),
            int(now_ms as i64),
            int(claimable_before as i64),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// The most statements one usage batch holds.
pub const USAGE_BATCH: usize = 100;

pub(crate) const ADD_USAGE: &str = "INSERT INTO usage_daily (day, tenant, provider, source, resolves, reports, rejections) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (day, tenant, provider, source) DO UPDATE SET resolves = resolves + excluded.resolves,
                   reports = reports + excluded.reports, rejections = rejections + excluded.rejections";

pub(crate) const MARK_USED: &str = "UPDATE integrations SET last_used_at = ?3
                 WHERE tenant = ?1 AND provider = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)";

/// Adds part of an isolate's aggregated usage (see `byok_core::usage`) in one D1 batch, which
/// is atomic: all of it is stored, or none. Callers split a flush with
/// `Flush::into_batches(USAGE_BATCH)`.
pub async fn add_usage(db: &D1Database, flush: &byok_core::usage::Flush) -> Result<()> {
    let mut statements = Vec::new();
    for (k, c) in &flush.counts {
        statements.push(db.prepare(ADD_USAGE).bind(&[
            text(&k.day),
            text(&k.tenant),
            text(&k.provider),
            text(k.source.as_str()),
            int(c.resolves as i64),
            int(c.reports as i64),
            int(c.rejections as i64),
        ])?);
    }
    for (tenant, provider, at) in &flush.last_used {
        let at = crate::util::rfc3339(*at);
        statements.push(
            db.prepare(MARK_USED)
                .bind(&[text(tenant), text(provider), text(&at)])?,
        );
    }
    if !statements.is_empty() {
        db.batch(statements).await.counted()?;
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub struct UsageDbRow {
    pub day: String,
    pub tenant: String,
    pub provider: String,
    pub source: String,
    pub resolves: i64,
    pub reports: i64,
    pub rejections: i64,
}

pub(crate) const USAGE_SINCE: &str =
    "SELECT day, tenant, provider, source, resolves, reports, rejections FROM usage_daily
         WHERE day >= ?1 ORDER BY day, tenant, provider, source LIMIT ?2";

/// Usage from `since` (a `YYYY-MM-DD` day) on, at most `limit` rows.
pub async fn usage_since(db: &D1Database, since: &str, limit: i64) -> Result<Vec<UsageDbRow>> {
    db.prepare(USAGE_SINCE)
        .bind(&[text(since), int(limit)])?
        .all()
        .await
        .counted()?
        .results::<UsageDbRow>()
}

pub(crate) fn active_providers_sql() -> String {
    format!("SELECT {PROVIDER_COLUMNS} FROM integration_providers WHERE active = 1 ORDER BY key")
}

pub async fn active_providers(db: &D1Database) -> Result<Vec<ProviderRow>> {
    db.prepare(active_providers_sql())
        .all()
        .await
        .counted()?
        .results::<ProviderRow>()
}

pub(crate) fn all_providers_sql() -> String {
    format!("SELECT {PROVIDER_COLUMNS} FROM integration_providers ORDER BY key")
}

/// Every entry, active and retired, by key (the admin console's catalog).
pub async fn all_providers(db: &D1Database) -> Result<Vec<ProviderRow>> {
    db.prepare(all_providers_sql())
        .all()
        .await
        .counted()?
        .results::<ProviderRow>()
}

/// Installs by provider and status: the rows the triggers of migration `0015` keep, a few per
/// provider, never a count over `integrations`.
pub(crate) const FLEET_COUNTS: &str = "SELECT provider, status, n FROM fleet_counts WHERE n != 0";

#[derive(Debug, Clone, Deserialize)]
struct KeyRow {
    key: String,
}

pub(crate) const PROVIDER_KEYS: &str = "SELECT key FROM integration_providers ORDER BY key";

/// The key of every entry, active and retired (the fleet counts each, installed or not),
/// without the specs.
pub async fn provider_keys(db: &D1Database) -> Result<Vec<String>> {
    Ok(db
        .prepare(PROVIDER_KEYS)
        .all()
        .await
        .counted()?
        .results::<KeyRow>()?
        .into_iter()
        .map(|r| r.key)
        .collect())
}

/// Keys that stopped working, oldest failure first, after `after`
/// (`FAILING_SINCE|TENANT|PROVIDER` of the last row of the previous page), at most `limit`:
/// read through the `integrations_failing` index.
pub async fn failing<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<T>> {
    let mut parts = after.unwrap_or("").splitn(3, '|');
    let (since, tenant, provider) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    db.prepare(FAILING)
        .bind(&[text(since), text(tenant), text(provider), int(limit)])?
        .all()
        .await
        .counted()?
        .results::<T>()
}

/// [`failing`]'s query (checked against the schema in `store_sql_tests`).
pub const FAILING: &str =
    "SELECT tenant, provider, status, failing_since, last_checked_at, last_test
     FROM integrations INDEXED BY integrations_failing
     WHERE failing_since IS NOT NULL
       AND (failing_since, tenant, provider) > (?1, ?2, ?3)
     ORDER BY failing_since, tenant, provider
     LIMIT ?4";

/// Creates or replaces an entry's spec (reactivating it); the logo and platform key stay.
/// Creates or updates an entry: its spec (what anyone may see) and its fixtures (what its
/// test plugin passed), in one write.
pub const UPSERT_PROVIDER: &str = "INSERT INTO integration_providers (key, spec, fixtures, translations, active, created_at, updated_at) VALUES (?1, ?2, ?4, ?5, 1, ?3, ?3)
         ON CONFLICT (key) DO UPDATE SET spec = excluded.spec, fixtures = excluded.fixtures, translations = excluded.translations, active = 1, updated_at = excluded.updated_at";

/// The row a tenant database other than the home one keeps for an entry: its key only, so
/// that its `integrations` may reference it. Nothing reads it; the entry itself is at home,
/// where this is a no-op (and an anchor is inactive, so one written there by mistake would
/// never be offered).
pub(crate) const ANCHOR_PROVIDER: &str =
    "INSERT INTO integration_providers (key, spec, active, created_at, updated_at)
     VALUES (?1, '{}', 0, ?2, ?2) ON CONFLICT (key) DO NOTHING";

/// Stores `entry` in the home database (its translations in their own column, never in the
/// spec) with its fixtures, after its key is anchored in every other database (`others`): an
/// entry tenants can install is never missing from the database that will hold their rows.
/// A failure anchoring leaves the entry unstored; storing it again finishes the job.
pub async fn store_provider(
    home: &D1Database,
    others: &[D1Database],
    entry: &byok_core::catalog::CatalogEntry,
    fixtures: Option<&str>,
    now: &str,
) -> Result<()> {
    for db in others {
        db.prepare(ANCHOR_PROVIDER)
            .bind(&[text(entry.key().as_str()), text(now)])?
            .run()
            .await
            .counted()?;
    }
    upsert_provider(home, entry, fixtures, now).await
}

/// Stores `entry` (its translations in their own column, never in the spec) and its fixtures.
async fn upsert_provider(
    db: &D1Database,
    entry: &byok_core::catalog::CatalogEntry,
    fixtures: Option<&str>,
    now: &str,
) -> Result<()> {
    let (bare, words) = entry.clone().without_translations();
    let spec =
        serde_json::to_string(bare.spec()).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let words = (!words.is_empty())
        .then(|| serde_json::to_string(&words))
        .transpose()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    db.prepare(UPSERT_PROVIDER)
        .bind(&[
            text(bare.key().as_str()),
            text(&spec),
            text(now),
            opt_text(fixtures),
            opt_text(words.as_deref()),
        ])?
        .run()
        .await
        .counted()?;
    Ok(())
}

pub(crate) const PROVIDER_FIXTURES: &str =
    "SELECT fixtures FROM integration_providers WHERE key = ?1";

/// An entry's stored fixtures (JSON), if it has any.
pub async fn provider_fixtures(db: &D1Database, key: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        fixtures: Option<String>,
    }
    Ok(db
        .prepare(PROVIDER_FIXTURES)
        .bind(&[text(key)])?
        .first::<Row>(None)
        .await
        .counted()?
        .and_then(|r| r.fixtures))
}

pub(crate) const PLUGIN_EXISTS: &str = "SELECT digest FROM plugins WHERE digest = ?1";

/// Whether a plugin with this digest has been uploaded.
pub async fn plugin_exists(db: &D1Database, digest: &str) -> Result<bool> {
    #[derive(Deserialize)]
    struct Row {
        #[allow(dead_code)]
        digest: String,
    }
    Ok(db
        .prepare(PLUGIN_EXISTS)
        .bind(&[text(digest)])?
        .first::<Row>(None)
        .await
        .counted()?
        .is_some())
}

pub(crate) const RETIRE_PROVIDER: &str =
    "UPDATE integration_providers SET active = 0, updated_at = ?2 WHERE key = ?1 AND active = 1";

pub async fn retire_provider(db: &D1Database, key: &str, now: &str) -> Result<bool> {
    let r = db
        .prepare(RETIRE_PROVIDER)
        .bind(&[text(key), text(now)])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

pub(crate) const SET_LOGO: &str =
    "UPDATE integration_providers SET logo_type = ?2, spec = ?3, updated_at = ?4 WHERE key = ?1";

pub async fn set_logo(
    db: &D1Database,
    key: &str,
    logo_type: &str,
    spec: &str,
    now: &str,
) -> Result<()> {
    db.prepare(SET_LOGO)
        .bind(&[text(key), text(logo_type), text(spec), text(now)])?
        .run()
        .await
        .counted()?;
    Ok(())
}

pub(crate) const SET_PLATFORM_KEY: &str = "UPDATE integration_providers SET platform_secret = ?2, platform_fields = ?3, platform_mask = ?4, updated_at = ?5,
           platform_status = NULL, platform_verified_at = NULL WHERE key = ?1";

pub async fn set_platform_key(
    db: &D1Database,
    key: &str,
    secret: &[u8],
    fields: &str,
    mask: &str,
    now: &str,
) -> Result<()> {
    db.prepare(SET_PLATFORM_KEY)
        .bind(&[
            text(key),
            blob(Some(secret)),
            text(fields),
            text(mask),
            text(now),
        ])?
        .run()
        .await
        .counted()?;
    Ok(())
}

/// Records a platform key's test against the key tested: a key replaced meanwhile keeps its
/// own (empty) record. `verified_at` only when the test concluded. Whether it was recorded.
pub(crate) const RECORD_PLATFORM_CHECK: &str =
    "UPDATE integration_providers SET platform_status = ?3, platform_verified_at = COALESCE(?4, platform_verified_at)
     WHERE key = ?1 AND platform_secret = ?2";

pub async fn record_platform_check(
    db: &D1Database,
    key: &str,
    sealed: &[u8],
    status: &str,
    verified_at: Option<&str>,
) -> Result<bool> {
    let r = db
        .prepare(RECORD_PLATFORM_CHECK)
        .bind(&[
            text(key),
            blob(Some(sealed)),
            text(status),
            opt_text(verified_at),
        ])?
        .run()
        .await
        .counted()?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// A platform key as Console → Platform keys lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct PlatformKeyRow {
    pub key: String,
    pub active: i64,
    pub platform_mask: Option<String>,
    pub platform_status: Option<String>,
    pub platform_verified_at: Option<String>,
}

pub(crate) const PLATFORM_KEYS: &str =
    "SELECT key, active, platform_mask, platform_status, platform_verified_at
         FROM integration_providers WHERE platform_secret IS NOT NULL ORDER BY key";

/// Every provider with a platform key (the catalog's size, not the tenants').
pub async fn platform_keys(db: &D1Database) -> Result<Vec<PlatformKeyRow>> {
    db.prepare(PLATFORM_KEYS)
        .all()
        .await
        .counted()?
        .results::<PlatformKeyRow>()
}

/// The newest day a provider's platform key was resolved: one index lookup
/// (`usage_daily_by_provider`).
pub(crate) const PLATFORM_LAST_USED: &str =
    "SELECT MAX(day) AS day FROM usage_daily WHERE provider = ?1 AND source = 'platform'";

#[derive(Debug, Clone, Deserialize)]
struct DayRow {
    day: Option<String>,
}

/// [`PLATFORM_LAST_USED`] for each of `providers`, in one D1 batch, in their order.
pub async fn platform_last_used(
    db: &D1Database,
    providers: &[String],
) -> Result<Vec<Option<String>>> {
    if providers.is_empty() {
        return Ok(Vec::new());
    }
    let statements = providers
        .iter()
        .map(|p| db.prepare(PLATFORM_LAST_USED).bind(&[text(p)]))
        .collect::<Result<Vec<_>>>()?;
    db.batch(statements)
        .await
        .counted()?
        .into_iter()
        .map(|r| {
            Ok(r.results::<DayRow>()?
                .into_iter()
                .next()
                .and_then(|d| d.day))
        })
        .collect()
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IntegrationRow {
    pub tenant: String,
    pub provider: String,
    pub status: String,
    pub secret: Option<Vec<u8>>,
    pub fields: Option<String>,
    pub key_id: Option<String>,
    pub mask: Option<String>,
    pub last_test: Option<String>,
    pub installed_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub last_verified_at: Option<String>,
    /// Unix ms of the last re-test a usage report claimed.
    #[serde(default)]
    pub retest_claimed_at: Option<f64>,
    /// Unix ms of the last test that ran, whatever it concluded (the scheduler's clock).
    #[serde(default)]
    pub last_checked_at: Option<f64>,
    /// RFC 3339: when the current run of failed tests began.
    #[serde(default)]
    pub failing_since: Option<String>,
    /// Inconclusive tests in a row since the last conclusive one.
    #[serde(default)]
    pub transient_failures: Option<f64>,
    /// The serving key's version (0 when there is none).
    #[serde(default)]
    pub key_version: Option<f64>,
    /// The last version given out (a guard for saves).
    #[serde(default)]
    pub last_version: Option<f64>,
    /// 1 when the serving key passed a test since it was stored.
    #[serde(default)]
    pub key_worked: Option<f64>,
    /// A new key saved over a working one (all `pending_*` are set together, or none).
    #[serde(default)]
    pub pending_version: Option<f64>,
    #[serde(default)]
    pub pending_state: Option<String>,
    #[serde(default)]
    pub pending_secret: Option<Vec<u8>>,
    #[serde(default)]
    pub pending_fields: Option<String>,
    #[serde(default)]
    pub pending_key_id: Option<String>,
    #[serde(default)]
    pub pending_mask: Option<String>,
    #[serde(default)]
    pub pending_test: Option<String>,
    #[serde(default)]
    pub pending_by: Option<String>,
    /// Unix ms.
    #[serde(default)]
    pub pending_at: Option<f64>,
    /// Unix ms: when the serving key expires, if it does.
    #[serde(default)]
    pub expires_at: Option<f64>,
    /// The last expiry notice sent (0 none, 1-3: `byok_core::expiry::Stage::number`).
    #[serde(default)]
    pub expiry_notified: Option<f64>,
    /// Unix ms: the pending key's expiry.
    #[serde(default)]
    pub pending_expires_at: Option<f64>,
}

impl IntegrationRow {
    pub fn key_version(&self) -> u64 {
        self.key_version.unwrap_or(0.0).max(0.0) as u64
    }

    pub fn last_version(&self) -> u64 {
        self.last_version.unwrap_or(0.0).max(0.0) as u64
    }

    pub fn key_worked(&self) -> bool {
        self.key_worked.unwrap_or(0.0) >= 1.0
    }
}

/// The columns an insert writes.
const INTEGRATION_COLUMNS: &str =
    "tenant, provider, status, secret, fields, key_id, mask, last_test, installed_at, updated_at";
/// The columns a read returns.
const INTEGRATION_READ: &str = "tenant, provider, status, secret, fields, key_id, mask, last_test, installed_at, updated_at, last_used_at, last_verified_at, retest_claimed_at, last_checked_at, failing_since, transient_failures,
     key_version, last_version, key_worked, pending_version, pending_state, pending_secret, pending_fields, pending_key_id, pending_mask, pending_test, pending_by, pending_at,
     expires_at, expiry_notified, pending_expires_at";

pub(crate) fn integration_row_sql() -> String {
    format!("SELECT {INTEGRATION_READ} FROM integrations WHERE tenant = ?1 AND provider = ?2")
}

pub async fn integration(
    db: &D1Database,
    tenant: &str,
    provider: &str,
) -> Result<Option<IntegrationRow>> {
    db.prepare(integration_row_sql())
        .bind(&[text(tenant), text(provider)])?
        .first::<IntegrationRow>(None)
        .await
        .counted()
}

pub(crate) fn tenant_integrations_sql() -> String {
    format!("SELECT {INTEGRATION_READ} FROM integrations WHERE tenant = ?1 ORDER BY provider")
}

pub async fn integrations(db: &D1Database, tenant: &str) -> Result<Vec<IntegrationRow>> {
    db.prepare(tenant_integrations_sql())
        .bind(&[text(tenant)])?
        .all()
        .await
        .counted()?
        .results::<IntegrationRow>()
}

/// ?1-?8 of both integration writes: tenant, provider, status, secret, fields, key id, mask,
/// last test.
fn credential_params(row: &IntegrationRow) -> [JsValue; 8] {
    [
        text(&row.tenant),
        text(&row.provider),
        text(&row.status),
        blob(row.secret.as_deref()),
        opt_text(row.fields.as_deref()),
        opt_text(row.key_id.as_deref()),
        opt_text(row.mask.as_deref()),
        opt_text(row.last_test.as_deref()),
    ]
}

pub(crate) fn insert_integration_sql() -> String {
    format!(
            "INSERT INTO integrations ({INTEGRATION_COLUMNS}, key_version, last_version, expires_at, next_check_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?4 IS NOT NULL, ?4 IS NOT NULL, ?11,
                     CASE WHEN ?4 IS NOT NULL THEN {DUE_NOW} END)
             ON CONFLICT (tenant, provider) DO NOTHING"
        )
}

/// Inserts a new row; `false` when the tenant already has this provider installed.
///
/// The entry's key is anchored in the tenant's database in the same batch (a no-op where it is
/// anchored already, and in the home database, which holds the entry): a database added to
/// `D1_SHARDS` after an entry was created has no anchor for it, and the row's foreign key
/// would refuse the install.
pub async fn insert_integration(db: &D1Database, row: &IntegrationRow) -> Result<bool> {
    let anchor = db
        .prepare(ANCHOR_PROVIDER)
        .bind(&[text(&row.provider), text(&row.installed_at)])?;
    let insert = db.prepare(insert_integration_sql()).bind(
        &[
            credential_params(row).as_slice(),
            &[
                text(&row.installed_at),
                text(&row.updated_at),
                row.expires_at.map_or(JsValue::NULL, JsValue::from_f64),
            ],
        ]
        .concat(),
    )?;
    let results = db.batch(vec![anchor, insert]).await.counted()?;
    match results.get(1) {
        Some(r) => changed(r),
        None => Err(worker::Error::RustError(
            "D1 answered the install's batch without the insert's result".into(),
        )),
    }
}

/// The `next_check_at` of a row the next cron run must look at (a key stored or changed and
/// not tested yet): due since ever, so the run reads it and decides exactly
/// (`byok_core::recheck::triage`); a test meanwhile stores the exact time.
macro_rules! due_now {
    () => {
        "0"
    };
}
const DUE_NOW: &str = due_now!();

/// Clears the pending key (within `SET`).
macro_rules! no_pending {
    () => {
        "pending_version = NULL, pending_state = NULL, pending_secret = NULL,
       pending_fields = NULL, pending_key_id = NULL, pending_mask = NULL, pending_test = NULL,
       pending_by = NULL, pending_at = NULL, pending_expires_at = NULL"
    };
}

/// A new key that serves at once (no key worked): version ?8, only over the row as read
/// (last version ?9, `updated_at` ?10), so a save or a status change since wins.
pub(crate) const STORE_KEY: &str = concat!(
    "UPDATE integrations SET status = 'unverified', secret = ?3, fields = ?4, key_id = ?5, mask = ?6,
       last_test = NULL, updated_at = ?7, failing_since = NULL, transient_failures = 0,
       key_version = ?8, last_version = ?8, key_worked = 0, expires_at = ?11, expiry_notified = 0,
       next_check_at = ",
    due_now!(),
    ", ",
    no_pending!(),
    " WHERE tenant = ?1 AND provider = ?2 AND last_version = ?9 AND updated_at = ?10"
);

/// A new key (?3 = version, ?4-?7 sealed, mask) set beside the serving one to be tested, only
/// while the serving key works and no other save came first (last version ?10).
pub(crate) const STAGE_PENDING: &str =
    "UPDATE integrations SET last_version = ?3, pending_version = ?3, pending_state = 'testing',
       pending_secret = ?4, pending_fields = ?5, pending_key_id = ?6, pending_mask = ?7,
       pending_test = NULL, pending_by = ?8, pending_at = ?9, pending_expires_at = ?11
     WHERE tenant = ?1 AND provider = ?2 AND last_version = ?10 AND status = 'connected'";

/// The pending key ?3 passed (its test ?4, at ?5 / ?6 ms): it serves from now on. Only that
/// very key (sealed value ?7), if no later save replaced it.
pub(crate) const PROMOTE_PENDING: &str = concat!(
    "UPDATE integrations SET status = 'connected', secret = pending_secret, fields = pending_fields,
       key_id = pending_key_id, mask = pending_mask, key_version = pending_version, key_worked = 1,
       expires_at = pending_expires_at, expiry_notified = 0, last_test = ?4, updated_at = ?5, last_verified_at = ?5, last_checked_at = ?6,
       failing_since = NULL, transient_failures = 0, next_check_at = ",
    due_now!(),
    ", ",
    no_pending!(),
    " WHERE tenant = ?1 AND provider = ?2 AND pending_version = ?3 AND pending_secret = ?7"
);

/// The pending key ?3 is dropped (refused by its test, or discarded by the user).
pub(crate) const DROP_PENDING: &str = concat!(
    "UPDATE integrations SET ",
    no_pending!(),
    " WHERE tenant = ?1 AND provider = ?2 AND pending_version = ?3"
);

/// The pending key ?3's test could not conclude (?4): it waits for the user.
pub(crate) const PENDING_INCONCLUSIVE: &str =
    "UPDATE integrations SET pending_state = 'inconclusive', pending_test = ?4
     WHERE tenant = ?1 AND provider = ?2 AND pending_version = ?3";

/// The user switches to the pending key ?3 anyway (at ?4): only once its test could not
/// conclude (or never finished: saved before ?5 ms). It serves, unverified, from now on.
pub(crate) const SWITCH_TO_PENDING: &str = concat!(
    "UPDATE integrations SET status = 'unverified', secret = pending_secret, fields = pending_fields,
       key_id = pending_key_id, mask = pending_mask, key_version = pending_version, key_worked = 0,
       expires_at = pending_expires_at, expiry_notified = 0, last_test = pending_test, updated_at = ?4, failing_since = NULL, transient_failures = 0,
       next_check_at = ",
    due_now!(),
    ", ",
    no_pending!(),
    " WHERE tenant = ?1 AND provider = ?2 AND pending_version = ?3
       AND (pending_state = 'inconclusive' OR pending_at < ?5)"
);

/// Stores a key that serves at once (see [`STORE_KEY`]) with its event, in one batch.
/// Whether it was stored (`false`: the row changed since it was read, or is gone).
pub async fn store_key(
    db: &D1Database,
    row: &IntegrationRow,
    read: (u64, &str),
    event: Option<(&str, &byok_core::events::StatusChanged, &str)>,
) -> Result<bool> {
    let update = db.prepare(STORE_KEY).bind(&[
        text(&row.tenant),
        text(&row.provider),
        blob(row.secret.as_deref()),
        opt_text(row.fields.as_deref()),
        opt_text(row.key_id.as_deref()),
        opt_text(row.mask.as_deref()),
        text(&row.updated_at),
        int(row.key_version() as i64),
        int(read.0 as i64),
        text(read.1),
        row.expires_at.map_or(JsValue::NULL, JsValue::from_f64),
    ])?;
    let mut statements = vec![update];
    if let Some((id, e, delivery)) = event {
        let guard = Guard {
            updated_at: &row.updated_at,
            sealed: row.secret.as_deref(),
        };
        statements.push(event_statement(db, id, e, delivery, Some(guard))?);
    }
    let results = db.batch(statements).await.counted()?;
    results.first().map_or(Ok(false), changed)
}

/// The expiry of the key the row holds (`sealed`), changed without changing the key: the
/// notices start again, and the next cron run looks at the row (checks tighten near an
/// expiry), unless it has no key.
pub(crate) const SET_EXPIRY: &str = concat!(
    "UPDATE integrations SET expires_at = ?3, expiry_notified = 0, next_check_at = MIN(next_check_at, ",
    due_now!(),
    ") WHERE tenant = ?1 AND provider = ?2 AND secret = ?4"
);

pub async fn set_expiry(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    sealed: &[u8],
    expires_at: Option<u64>,
) -> Result<bool> {
    let r = db
        .prepare(SET_EXPIRY)
        .bind(&[
            text(tenant),
            text(provider),
            expires_at.map_or(JsValue::NULL, |e| int(e as i64)),
            blob(Some(sealed)),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// A key with an expiry notice that may be due: expiring before ?1 (now + 14 days), with a
/// notice still to send.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpiryRow {
    pub tenant: String,
    pub provider: String,
    pub status: String,
    pub expires_at: f64,
    pub expiry_notified: f64,
}

/// ?1 = now + 14 days, ?3 = now + 1 day, ?4 = now: only rows whose notice is due.
pub(crate) const EXPIRY_CANDIDATES: &str =
    "SELECT tenant, provider, status, expires_at, expiry_notified FROM integrations
     WHERE expires_at IS NOT NULL AND expiry_notified < 3 AND expires_at <= ?1
       AND (expiry_notified < 1 OR (expiry_notified < 2 AND expires_at <= ?3) OR expires_at <= ?4)
     ORDER BY expires_at LIMIT ?2";

pub async fn expiry_candidates(db: &D1Database, now_ms: u64, limit: u32) -> Result<Vec<ExpiryRow>> {
    use byok_core::expiry::{FIRST_NOTICE_MS, LAST_NOTICE_MS};
    let at = |ms: u64| int(i64::try_from(ms).unwrap_or(i64::MAX));
    db.prepare(EXPIRY_CANDIDATES)
        .bind(&[
            at(now_ms.saturating_add(FIRST_NOTICE_MS)),
            int(i64::from(limit)),
            at(now_ms.saturating_add(LAST_NOTICE_MS)),
            at(now_ms),
        ])?
        .all()
        .await
        .counted()?
        .results()
}

/// Records that notice ?5 (event ?6) was sent for the expiry ?3, only if no other run sent it
/// (?4: the notice read) and the expiry is unchanged.
pub(crate) const MARK_NOTICE: &str =
    "UPDATE integrations SET expiry_notified = ?5, expiry_notice_id = ?6
     WHERE tenant = ?1 AND provider = ?2 AND expires_at = ?3 AND expiry_notified = ?4";

/// A notice's event, stored only with its own mark (the row names this event, ?1).
pub(crate) const NOTICE_EVENT: &str = insert_event_where!(
    "EXISTS (SELECT 1 FROM integrations
                   WHERE tenant = ?2 AND provider = ?3 AND expiry_notice_id = ?1)"
);

/// Marks a notice sent and stores its event, in one batch: `false` when another run sent it.
pub async fn mark_notice(
    db: &D1Database,
    row: &ExpiryRow,
    stage: u8,
    event: Option<(&str, &byok_core::events::StatusChanged, &str)>,
) -> Result<bool> {
    let mark = db.prepare(MARK_NOTICE).bind(&[
        text(&row.tenant),
        text(&row.provider),
        JsValue::from_f64(row.expires_at),
        JsValue::from_f64(row.expiry_notified),
        int(i64::from(stage)),
        opt_text(event.map(|(id, _, _)| id)),
    ])?;
    let mut statements = vec![mark];
    if let Some((id, e, delivery)) = event {
        statements.push(
            db.prepare(NOTICE_EVENT)
                .bind(&event_params(id, e, delivery)?)?,
        );
    }
    let results = db.batch(statements).await.counted()?;
    results.first().map_or(Ok(false), changed)
}

/// A new key to set beside the serving one.
pub struct Pending<'a> {
    pub version: u64,
    pub sealed: &'a [u8],
    pub fields: &'a str,
    pub key_id: &'a str,
    pub mask: &'a str,
    pub by: &'a str,
    pub at_ms: u64,
    /// Unix ms.
    pub expires_at: Option<u64>,
}

/// See [`STAGE_PENDING`]; `read_last_version` is the last version as read.
pub async fn stage_pending(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    p: &Pending<'_>,
    read_last_version: u64,
) -> Result<bool> {
    let r = db
        .prepare(STAGE_PENDING)
        .bind(&[
            text(tenant),
            text(provider),
            int(p.version as i64),
            blob(Some(p.sealed)),
            text(p.fields),
            text(p.key_id),
            text(p.mask),
            text(p.by),
            int(p.at_ms as i64),
            int(read_last_version as i64),
            p.expires_at.map_or(JsValue::NULL, |e| int(e as i64)),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// See [`PROMOTE_PENDING`]: with its audit row and event, in one batch.
#[allow(clippy::too_many_arguments)]
pub async fn promote_pending(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    version: u64,
    sealed: &[u8],
    last_test: &str,
    now: &str,
    now_ms: u64,
    audit: &AuditEntry,
    event: Option<(&str, &byok_core::events::StatusChanged, &str)>,
) -> Result<bool> {
    let update = db.prepare(PROMOTE_PENDING).bind(&[
        text(tenant),
        text(provider),
        int(version as i64),
        text(last_test),
        text(now),
        int(now_ms as i64),
        blob(Some(sealed)),
    ])?;
    let mut statements = vec![update];
    if let Some((id, e, delivery)) = event {
        let guard = Guard {
            updated_at: now,
            sealed: Some(sealed),
        };
        statements.push(event_statement(db, id, e, delivery, Some(guard))?);
    }
    // The audit row only if the key was promoted.
    statements.push(guarded_audit_statement(db, audit, now, sealed)?);
    let results = db.batch(statements).await.counted()?;
    results.first().map_or(Ok(false), changed)
}

pub(crate) const GUARDED_AUDIT: &str = concat!(
    "INSERT INTO audit_log (id, at, actor, tenant, provider, action, outcome)
         SELECT ",
    audit_id!("?9"),
    ", ?1, ?2, ?3, ?4, ?5, ?6
         WHERE EXISTS (SELECT 1 FROM integrations WHERE tenant = ?3 AND provider = ?4
                       AND updated_at = ?7 AND secret = ?8)"
);

/// An audit row written only if the integration holds `sealed` since `updated_at` (in the
/// same batch as the write it records).
fn guarded_audit_statement(
    db: &D1Database,
    e: &AuditEntry,
    updated_at: &str,
    sealed: &[u8],
) -> Result<worker::D1PreparedStatement> {
    db.prepare(GUARDED_AUDIT).bind(&[
        text(&e.at),
        text(&e.actor),
        opt_text(e.tenant.as_ref().map(|t| t.as_str())),
        opt_text(e.provider.as_ref().map(|p| p.as_str())),
        text(&e.action),
        text(&e.outcome),
        text(updated_at),
        blob(Some(sealed)),
        audit_id_floor(e),
    ])
}

/// Drops the pending key `version` ([`DROP_PENDING`]): whether it was still the pending one.
pub async fn drop_pending(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    version: u64,
) -> Result<bool> {
    let r = db
        .prepare(DROP_PENDING)
        .bind(&[text(tenant), text(provider), int(version as i64)])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// Records that the pending key `version`'s test (`last_test`) could not conclude
/// ([`PENDING_INCONCLUSIVE`]): whether it was still the pending one.
pub async fn pending_inconclusive(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    version: u64,
    last_test: &str,
) -> Result<bool> {
    let r = db
        .prepare(PENDING_INCONCLUSIVE)
        .bind(&[
            text(tenant),
            text(provider),
            int(version as i64),
            text(last_test),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// See [`SWITCH_TO_PENDING`], with its event.
pub async fn switch_to_pending(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    version: u64,
    now: &str,
    deadline_ms: u64,
    event: Option<(&str, &byok_core::events::StatusChanged, &str)>,
) -> Result<bool> {
    let update = db.prepare(SWITCH_TO_PENDING).bind(&[
        text(tenant),
        text(provider),
        int(version as i64),
        text(now),
        int(deadline_ms as i64),
    ])?;
    let mut statements = vec![update];
    if let Some((id, e, delivery)) = event {
        let mut params = event_params(id, e, delivery)?;
        params.push(int(version as i64));
        statements.push(db.prepare(SWITCH_EVENT).bind(&params)?);
    }
    let results = db.batch(statements).await.counted()?;
    results.first().map_or(Ok(false), changed)
}

/// A switch's event, stored only if the switch happened (the row now serves version ?9
/// since ?7).
pub(crate) const SWITCH_EVENT: &str = insert_event_where!(
    "EXISTS (SELECT 1 FROM integrations
                   WHERE tenant = ?2 AND provider = ?3 AND updated_at = ?7 AND key_version = ?9)"
);

/// A finished test to record: the row's new status and health, guarded by the `updated_at`
/// the test started from.
pub struct TestRecord<'a> {
    pub status: &'a str,
    pub last_test: &'a str,
    /// The row's `updated_at` when the test began: a row changed since is not overwritten.
    pub since: &'a str,
    /// The sealed value that was tested. Sealing draws a fresh nonce, so it names one key as
    /// saved: a second key saved in the same millisecond (same `updated_at`) is a different
    /// value, and the result is not recorded against it.
    pub sealed: &'a [u8],
    pub now: &'a str,
    pub now_ms: u64,
    /// The test concluded (connected or rejected), so the key was verified.
    pub verified: bool,
    pub failing_since: Option<&'a str>,
    pub transient_failures: u32,
    /// Unix ms: when the key is next due (`byok_core::recheck::stored_next_check`).
    pub next_check_at: Option<u64>,
}

/// A finished test's update: only the row as it was when the test began, holding the very
/// sealed value tested (?11).
pub(crate) const RECORD_TEST: &str =
    "UPDATE integrations SET status = ?3, last_test = ?4, updated_at = ?6,
       last_verified_at = CASE WHEN ?7 = 1 THEN ?6 ELSE last_verified_at END,
       key_worked = CASE WHEN ?3 = 'connected' THEN 1 ELSE key_worked END,
       last_checked_at = ?8, failing_since = ?9, transient_failures = ?10, next_check_at = ?12
     WHERE tenant = ?1 AND provider = ?2 AND updated_at = ?5 AND secret = ?11";

/// Records a test's result with its audit row, unless the row changed since the test began.
/// Whether it was recorded.
/// How a test is written to the audit log (`byok_core::retention::audit_write` decides).
pub enum TestAudit<'a> {
    /// A row.
    Row(&'a AuditEntry),
    /// One more in the day's count for the provider and outcome (`recheck_daily`).
    Counted { day: &'a str, outcome: &'a str },
}

/// One more unchanged scheduled re-check in the day's count.
pub(crate) const COUNT_RECHECK: &str =
    "INSERT INTO recheck_daily (day, provider, outcome, checks) VALUES (?1, ?2, ?3, 1)
     ON CONFLICT (day, provider, outcome) DO UPDATE SET checks = checks + 1";

pub async fn record_test(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    t: &TestRecord<'_>,
    audit: TestAudit<'_>,
    event: Option<(&str, &byok_core::events::StatusChanged, &str)>,
) -> Result<bool> {
    let update = db.prepare(RECORD_TEST).bind(&[
        text(tenant),
        text(provider),
        text(t.status),
        text(t.last_test),
        text(t.since),
        text(t.now),
        int(i64::from(t.verified)),
        int(i64::try_from(t.now_ms).unwrap_or(i64::MAX)),
        opt_text(t.failing_since),
        int(i64::from(t.transient_failures)),
        blob(Some(t.sealed)),
        opt_ms(t.next_check_at),
    ])?;
    let audit = match audit {
        TestAudit::Row(entry) => audit_statement(db, entry)?,
        TestAudit::Counted { day, outcome } => {
            db.prepare(COUNT_RECHECK)
                .bind(&[text(day), text(provider), text(outcome)])?
        }
    };
    let mut statements = vec![update, audit];
    if let Some((id, e, delivery)) = event {
        let guard = Guard {
            updated_at: t.now,
            sealed: Some(t.sealed),
        };
        statements.push(event_statement(db, id, e, delivery, Some(guard))?);
    }
    let results = db.batch(statements).await.counted()?;
    results.first().map_or(Ok(false), changed)
}

/// A re-check that could not run: the schedule advances (checked now, one more inconclusive
/// check) and the audit row says why, for the row as it was read (same `updated_at` and
/// sealed value). The key, its status and `updated_at` are untouched.
pub(crate) const RECORD_NOT_CHECKED: &str = "UPDATE integrations SET last_checked_at = ?5,
       transient_failures = ?6, failing_since = ?7, next_check_at = ?8
     WHERE tenant = ?1 AND provider = ?2 AND updated_at = ?3 AND secret IS ?4";

pub async fn record_not_checked(
    db: &D1Database,
    row: &IntegrationRow,
    now_ms: u64,
    transient_failures: u32,
    failing_since: &str,
    next_check_at: Option<u64>,
    audit: &AuditEntry,
) -> Result<bool> {
    let update = db.prepare(RECORD_NOT_CHECKED).bind(&[
        text(&row.tenant),
        text(&row.provider),
        text(&row.updated_at),
        blob(row.secret.as_deref()),
        int(i64::try_from(now_ms).unwrap_or(i64::MAX)),
        int(i64::from(transient_failures)),
        text(failing_since),
        opt_ms(next_check_at),
    ])?;
    let results = db
        .batch(vec![update, audit_statement(db, audit)?])
        .await
        .counted()?;
    results.first().map_or(Ok(false), changed)
}

/// The rows whose stored `next_check_at` has come (Unix ms ?1), the longest due first, at
/// most ?2: a search of `integrations_by_next_check` that reads only those rows, however many
/// keys are stored. Whether each is due is decided from its entry as it is now.
pub(crate) fn recheck_due_sql() -> String {
    format!(
        "SELECT {INTEGRATION_READ} FROM integrations
         WHERE next_check_at <= ?1 ORDER BY next_check_at LIMIT ?2"
    )
}

pub async fn recheck_due(
    db: &D1Database,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<IntegrationRow>> {
    db.prepare(recheck_due_sql())
        .bind(&[
            opt_ms(Some(now_ms)),
            int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ])?
        .all()
        .await
        .counted()?
        .results()
}

/// New `next_check_at` times for rows a cron run read that were not due (?1: a JSON array of
/// `[tenant, provider, updated_at, next_check_at]`), each only over the row as it was read
/// (a test or a save since stored its own time): one statement however many rows.
pub(crate) const RESCHEDULE: &str =
    "UPDATE integrations SET next_check_at = json_extract(j.value, '$[3]')
     FROM json_each(?1) AS j
     WHERE integrations.tenant = json_extract(j.value, '$[0]')
       AND integrations.provider = json_extract(j.value, '$[1]')
       AND integrations.updated_at = json_extract(j.value, '$[2]')";

/// See [`RESCHEDULE`]. Returns how many rows moved.
pub async fn reschedule(db: &D1Database, rows: &[(&IntegrationRow, Option<u64>)]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let doc: Vec<serde_json::Value> = rows
        .iter()
        .map(|(r, at)| serde_json::json!([r.tenant, r.provider, r.updated_at, at]))
        .collect();
    let doc = serde_json::to_string(&doc).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let r = db
        .prepare(RESCHEDULE)
        .bind(&[text(&doc)])?
        .run()
        .await
        .counted()?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) as u64)
}

/// The insert of a status event with its delivery state (`none` or `pending`). With a
/// `guard` (the row's `updated_at` the change wrote), it inserts only if that write happened:
/// put in the same batch, the event and the change are stored together or not at all.
/// What an event stored in the same batch as a change checks: that the change was applied,
/// i.e. the row now has this `updated_at` *and* this sealed value (two changes in the same
/// millisecond share the first, never the second).
struct Guard<'a> {
    updated_at: &'a str,
    sealed: Option<&'a [u8]>,
}

/// An event's insert, guarded by the change it records (?9, ?10), or unguarded (?9 NULL).
pub(crate) const INSERT_EVENT: &str = insert_event_where!(
    "?9 IS NULL OR EXISTS (SELECT 1 FROM integrations
                                 WHERE tenant = ?2 AND provider = ?3 AND updated_at = ?9 AND secret IS ?10)"
);

/// ?1-?8 of every event insert: id, tenant, provider, from, to, reason, at, delivery state.
fn event_params(
    id: &str,
    e: &byok_core::events::StatusChanged,
    delivery: &str,
) -> Result<Vec<JsValue>> {
    Ok(vec![
        text(id),
        text(&e.tenant),
        text(&e.provider),
        text(e.from.as_str()),
        text(e.to.as_str()),
        text(&reason_json(e)?),
        text(&e.at),
        text(delivery),
    ])
}

fn reason_json(e: &byok_core::events::StatusChanged) -> Result<String> {
    serde_json::to_string(&e.reason).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn event_statement(
    db: &D1Database,
    id: &str,
    e: &byok_core::events::StatusChanged,
    delivery: &str,
    guard: Option<Guard<'_>>,
) -> Result<worker::D1PreparedStatement> {
    let mut params = event_params(id, e, delivery)?;
    params.push(opt_text(guard.as_ref().map(|g| g.updated_at)));
    params.push(blob(guard.and_then(|g| g.sealed)));
    db.prepare(INSERT_EVENT).bind(&params)
}

/// Stores a status event with its delivery state (`none` or `pending`).
pub async fn insert_event(
    db: &D1Database,
    id: &str,
    e: &byok_core::events::StatusChanged,
    delivery: &str,
) -> Result<()> {
    event_statement(db, id, e, delivery, None)?
        .run()
        .await
        .counted()?;
    Ok(())
}

/// Records how a delivery stands after `attempts` attempts.
/// Records an attempt of `series` (its state after the attempt, and when), only while that
/// series is the event's current one. Whether it was recorded.
pub(crate) const SET_DELIVERY: &str =
    "UPDATE status_events SET delivery = ?2, attempts = ?3, attempted_at = ?5
     WHERE id = ?1 AND series = ?4";

pub async fn set_delivery(
    db: &D1Database,
    id: &str,
    series: u32,
    delivery: &str,
    attempts: u32,
    now_ms: u64,
) -> Result<bool> {
    let r = db
        .prepare(SET_DELIVERY)
        .bind(&[
            text(id),
            text(delivery),
            int(i64::from(attempts)),
            int(i64::from(series)),
            int(i64::try_from(now_ms).unwrap_or(i64::MAX)),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

/// An event's delivery state and current series, as an attempt checks it before running.
#[derive(Debug, Deserialize)]
pub struct DeliveryState {
    pub delivery: String,
    pub series: f64,
}

pub(crate) const DELIVERY_STATE: &str = "SELECT delivery, series FROM status_events WHERE id = ?1";

pub async fn delivery_state(db: &D1Database, id: &str) -> Result<Option<DeliveryState>> {
    db.prepare(DELIVERY_STATE)
        .bind(&[text(id)])?
        .first(None)
        .await
        .counted()
}

/// Dead-letters `pending` events with no attempt recorded since `before_ms`, at most `limit`
/// of them (oldest first; the rest wait for the next run). How many.
pub(crate) const STALL_DELIVERIES: &str = "UPDATE status_events SET delivery = 'dead'
     WHERE id IN (SELECT id FROM status_events
                  WHERE delivery = 'pending' AND attempted_at < ?1
                  ORDER BY attempted_at LIMIT ?2)";

pub async fn stall_deliveries(db: &D1Database, before_ms: u64, limit: u32) -> Result<u64> {
    let r = db
        .prepare(STALL_DELIVERIES)
        .bind(&[
            int(i64::try_from(before_ms).unwrap_or(i64::MAX)),
            int(i64::from(limit)),
        ])?
        .run()
        .await
        .counted()?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) as u64)
}

/// A stored status event.
#[derive(Debug, Deserialize)]
pub struct EventRow {
    pub id: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
    pub at: String,
}

/// A stored event with its delivery state.
#[derive(Debug, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub tenant: String,
    pub provider: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
    pub at: String,
    pub delivery: String,
    pub attempts: f64,
}

const DELIVERY_COLUMNS: &str =
    "id, tenant, provider, from_status, to_status, reason, at, delivery, attempts";

pub(crate) fn event_by_id_sql() -> String {
    format!("SELECT {DELIVERY_COLUMNS} FROM status_events WHERE id = ?1")
}

pub async fn event_by_id(db: &D1Database, id: &str) -> Result<Option<DeliveryRow>> {
    db.prepare(event_by_id_sql())
        .bind(&[text(id)])?
        .first(None)
        .await
        .counted()
}

/// Starts the next series of attempts for an event, if it is still in the state `from` (so two
/// admins asking at once start one series). The new series, when it did.
pub(crate) const RESTART_DELIVERY: &str = "UPDATE status_events
     SET delivery = 'pending', attempts = 0, series = series + 1, attempted_at = ?3
     WHERE id = ?1 AND delivery = ?2 RETURNING series";

pub async fn restart_delivery(
    db: &D1Database,
    id: &str,
    from: &str,
    now_ms: u64,
) -> Result<Option<u32>> {
    #[derive(Deserialize)]
    struct Series {
        series: f64,
    }
    let row: Option<Series> = db
        .prepare(RESTART_DELIVERY)
        .bind(&[
            text(id),
            text(from),
            int(i64::try_from(now_ms).unwrap_or(i64::MAX)),
        ])?
        .first(None)
        .await
        .counted()?;
    Ok(row.map(|r| r.series.max(0.0) as u32))
}

pub(crate) fn events_by_delivery_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM status_events
         WHERE delivery = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2"
    )
}

/// Events whose webhook is in `delivery`, newest first.
pub async fn events_by_delivery(
    db: &D1Database,
    delivery: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    db.prepare(events_by_delivery_sql())
        .bind(&[text(delivery), int(limit)])?
        .all()
        .await
        .counted()?
        .results()
}

pub(crate) const EVENTS_FOR: &str =
    "SELECT id, from_status, to_status, reason, at FROM status_events
         WHERE tenant = ?1 AND provider = ?2 ORDER BY at DESC, rowid DESC LIMIT ?3";

/// One integration's events, newest first.
pub async fn events_for(
    db: &D1Database,
    tenant: &str,
    provider: &str,
    limit: i64,
) -> Result<Vec<EventRow>> {
    db.prepare(EVENTS_FOR)
        .bind(&[text(tenant), text(provider), int(limit)])?
        .all()
        .await
        .counted()?
        .results()
}

/// The id floor of a new audit row: now, and the position of the database that holds it.
fn audit_id_floor(e: &AuditEntry) -> JsValue {
    let position = crate::position_of(e.tenant.as_ref().map(|t| t.as_str()));
    let floor = byok_core::shard::audit_id_floor(crate::util::now_millis(), position);
    JsValue::from_f64(floor as f64)
}

pub(crate) const INSERT_AUDIT: &str = concat!(
    "INSERT INTO audit_log (id, at, actor, tenant, provider, action, outcome) VALUES (",
    audit_id!("?7"),
    ", ?1, ?2, ?3, ?4, ?5, ?6)"
);

fn audit_statement(db: &D1Database, e: &AuditEntry) -> Result<worker::D1PreparedStatement> {
    db.prepare(INSERT_AUDIT).bind(&[
        text(&e.at),
        text(&e.actor),
        opt_text(e.tenant.as_ref().map(|t| t.as_str())),
        opt_text(e.provider.as_ref().map(|p| p.as_str())),
        text(&e.action),
        text(&e.outcome),
        audit_id_floor(e),
    ])
}

pub(crate) const DELETE_INTEGRATION: &str =
    "DELETE FROM integrations WHERE tenant = ?1 AND provider = ?2";

pub async fn delete_integration(db: &D1Database, tenant: &str, provider: &str) -> Result<bool> {
    let r = db
        .prepare(DELETE_INTEGRATION)
        .bind(&[text(tenant), text(provider)])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

pub async fn audit(db: &D1Database, e: &AuditEntry) -> Result<()> {
    audit_statement(db, e)?.run().await.counted()?;
    Ok(())
}

/// The query of a tenant's audit rows, newest first, as `by` filters them: ?1 tenant, ?2
/// limit, ?3 actor or NULL, ?4 and ?5 the automated actors.
pub(crate) fn audit_for_sql(by: byok_core::api::AuditBy) -> String {
    use byok_core::api::AuditBy;
    let by_clause = match by {
        AuditBy::All => "",
        AuditBy::People => " AND actor NOT IN (?4, ?5)",
        AuditBy::Automated => " AND actor IN (?4, ?5)",
    };
    format!(
        "SELECT at, actor, tenant, provider, action, outcome FROM audit_log
         WHERE tenant = ?1 AND (?3 IS NULL OR actor = ?3){by_clause} ORDER BY id DESC LIMIT ?2"
    )
}

/// A tenant's audit rows, newest first: those `by` shows, and only `actor`'s when given.
pub async fn audit_for(
    db: &D1Database,
    tenant: &str,
    by: byok_core::api::AuditBy,
    actor: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    use byok_core::api::{AuditBy, AUTOMATED_ACTORS};
    db.prepare(audit_for_sql(by))
        .bind(
            &[
                text(tenant),
                int(limit),
                opt_text(actor),
                text(AUTOMATED_ACTORS[0]),
                text(AUTOMATED_ACTORS[1]),
            ][..if by == AuditBy::All { 3 } else { 5 }],
        )?
        .all()
        .await
        .counted()?
        .results::<AuditEntry>()
}

pub(crate) const INSERT_PLUGIN: &str = "INSERT INTO plugins (digest, size, contract, uploaded_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (digest) DO NOTHING";

pub async fn insert_plugin(
    db: &D1Database,
    digest: &str,
    size: usize,
    contract: &str,
    now: &str,
) -> Result<()> {
    db.prepare(INSERT_PLUGIN)
        .bind(&[text(digest), int(size as i64), text(contract), text(now)])?
        .run()
        .await
        .counted()?;
    Ok(())
}

/// Stored tenant secrets per key id (`key_id` is the main secret's; sealed fields are sealed
/// with it in the same write).
#[derive(Debug, Deserialize)]
pub struct KeyIdCount {
    pub key_id: String,
    pub n: i64,
}

pub(crate) const INTEGRATION_KEY_IDS: &str = "SELECT key_id, COUNT(*) AS n FROM (
           SELECT key_id FROM integrations WHERE secret IS NOT NULL AND key_id IS NOT NULL
           UNION ALL
           SELECT pending_key_id FROM integrations WHERE pending_key_id IS NOT NULL)
         GROUP BY key_id";

pub async fn integration_key_ids(db: &D1Database) -> Result<Vec<KeyIdCount>> {
    db.prepare(INTEGRATION_KEY_IDS)
        .all()
        .await
        .counted()?
        .results::<KeyIdCount>()
}

#[derive(Debug, Deserialize)]
pub struct PlatformSecretRow {
    pub key: String,
    pub platform_secret: Vec<u8>,
    pub platform_fields: Option<String>,
}

pub(crate) const PLATFORM_SECRETS: &str = "SELECT key, platform_secret, platform_fields FROM integration_providers WHERE platform_secret IS NOT NULL ORDER BY key";

/// Every provider's platform key (a handful of rows: the catalog is small).
pub async fn platform_secrets(db: &D1Database) -> Result<Vec<PlatformSecretRow>> {
    db.prepare(PLATFORM_SECRETS)
        .all()
        .await
        .counted()?
        .results::<PlatformSecretRow>()
}

pub(crate) const RESEAL_PLATFORM_KEY: &str = "UPDATE integration_providers SET platform_secret = ?3, platform_fields = ?4 WHERE key = ?1 AND platform_secret = ?2";

/// Replaces a platform key's ciphertext if it is still the one read (compare-and-swap on the
/// value itself: the table has no per-key version).
pub async fn reseal_platform_key(
    db: &D1Database,
    key: &str,
    old: &[u8],
    new: &[u8],
    fields: Option<&str>,
) -> Result<bool> {
    let r = db
        .prepare(RESEAL_PLATFORM_KEY)
        .bind(&[
            text(key),
            blob(Some(old)),
            blob(Some(new)),
            opt_text(fields),
        ])?
        .run()
        .await
        .counted()?;
    changed(&r)
}

#[derive(Debug, Deserialize)]
pub struct SealedRow {
    pub tenant: String,
    pub provider: String,
    pub secret: Vec<u8>,
    pub fields: Option<String>,
    pub key_id: String,
    pub updated_at: String,
    /// The pending key, when one waits (sealed under its own key id).
    #[serde(default)]
    pub pending_secret: Option<Vec<u8>>,
    #[serde(default)]
    pub pending_fields: Option<String>,
    #[serde(default)]
    pub pending_version: Option<f64>,
}

pub(crate) const ROWS_TO_RESEAL: &str =
    "SELECT tenant, provider, secret, fields, key_id, updated_at,
                pending_secret, pending_fields, pending_version FROM integrations
         WHERE secret IS NOT NULL AND key_id IS NOT NULL
           AND (key_id != ?1 OR (pending_key_id IS NOT NULL AND pending_key_id != ?1))
           AND (tenant, provider) > (?2, ?3)
         ORDER BY tenant, provider LIMIT ?4";

/// Up to `limit` rows with a serving or pending key sealed under a key other than `primary`,
/// in (tenant, provider) order, after the row `after` when given.
pub async fn rows_to_reseal(
    db: &D1Database,
    primary: &str,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<SealedRow>> {
    let (t, p) = after.unwrap_or(("", ""));
    db.prepare(ROWS_TO_RESEAL)
        .bind(&[text(primary), text(t), text(p), int(i64::from(limit))])?
        .all()
        .await
        .counted()?
        .results::<SealedRow>()
}

/// A row's values sealed again under the primary key: the serving key's and, when one waits,
/// the pending key's.
pub struct Resealed<'a> {
    pub secret: &'a [u8],
    pub fields: Option<&'a str>,
    pub key_id: &'a str,
    pub pending: Option<(&'a [u8], Option<&'a str>, &'a str)>,
}

/// The re-sealed values of one row, written only if the row is still as read: same
/// `updated_at` (no save or test since), same key id and same pending version. `updated_at`
/// is left as it is: the key did not change, and a test in flight may still record its
/// result.
pub(crate) const RESEAL: &str = "UPDATE integrations SET secret = ?3, fields = ?4, key_id = ?5,
       pending_secret = COALESCE(?8, pending_secret), pending_fields = COALESCE(?9, pending_fields),
       pending_key_id = COALESCE(?10, pending_key_id)
     WHERE tenant = ?1 AND provider = ?2 AND updated_at = ?6 AND key_id = ?7
       AND pending_version IS ?11";

pub fn reseal_statement(
    db: &D1Database,
    row: &SealedRow,
    new: &Resealed<'_>,
) -> Result<worker::D1PreparedStatement> {
    let (p_secret, p_fields, p_key_id) = match new.pending {
        Some((s, f, k)) => (Some(s), f, Some(k)),
        None => (None, None, None),
    };
    db.prepare(RESEAL).bind(&[
        text(&row.tenant),
        text(&row.provider),
        blob(Some(new.secret)),
        opt_text(new.fields),
        text(new.key_id),
        text(&row.updated_at),
        text(&row.key_id),
        blob(p_secret),
        opt_text(p_fields),
        opt_text(p_key_id),
        row.pending_version.map_or(JsValue::NULL, |v| int(v as i64)),
    ])
}

/// Runs statements in one D1 batch (one round trip, one transaction) and says, for each,
/// whether it changed a row.
pub async fn run_batch(
    db: &D1Database,
    statements: Vec<worker::D1PreparedStatement>,
) -> Result<Vec<bool>> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db
        .batch(statements)
        .await
        .counted()?
        .iter()
        .map(|r| changed(r).unwrap_or(false))
        .collect())
}

#[cfg(test)]
#[path = "store_sql_tests.rs"]
pub(crate) mod sql_tests;

#[cfg(test)]
#[path = "store_plan_tests.rs"]
mod plan_tests;

/// Retention (issue #24; `byok_core::retention`): each statement removes at most `?2` aged rows
/// of one table, oldest first, and never a row the rules keep.
///
/// Audit rows in id order (they are appended as time goes), the aged among the oldest `?2`: a
/// batch that meets a row still kept removes only what precedes it in time.
pub(crate) const PURGE_AUDIT: &str = "DELETE FROM audit_log WHERE id IN
     (SELECT id FROM audit_log ORDER BY id LIMIT ?2) AND at < ?1";
/// Status events older than `?1`, oldest first (`status_events_by_at`), except each
/// integration's newest (what explains its status) and any whose webhook is still being
/// delivered.
pub(crate) const PURGE_EVENTS: &str = "DELETE FROM status_events WHERE id IN
     (SELECT e.id FROM status_events e
       WHERE e.at < ?1 AND e.delivery != 'pending'
         AND EXISTS (SELECT 1 FROM status_events n
                      WHERE n.tenant = e.tenant AND n.provider = e.provider AND n.at > e.at)
       ORDER BY e.at LIMIT ?2)";
/// Daily usage before the day `?1` (the primary key starts with the day).
pub(crate) const PURGE_USAGE: &str = "DELETE FROM usage_daily WHERE rowid IN
     (SELECT rowid FROM usage_daily WHERE day < ?1 ORDER BY day LIMIT ?2)";
/// Daily re-check counts before the day `?1`.
pub(crate) const PURGE_RECHECK_COUNTS: &str = "DELETE FROM recheck_daily WHERE rowid IN
     (SELECT rowid FROM recheck_daily WHERE day < ?1 ORDER BY day LIMIT ?2)";

/// Runs one purge statement (`PURGE_*`) with its cutoff and batch size: how many rows went.
pub async fn purge(db: &D1Database, statement: &str, cutoff: &str, batch: u32) -> Result<u64> {
    let r = db
        .prepare(statement)
        .bind(&[text(cutoff), int(i64::from(batch))])?
        .run()
        .await
        .counted()?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) as u64)
}
