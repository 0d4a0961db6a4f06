//! The admin surface's routes for the console (issue #23), platform admins only: the whole
//! catalog with retired entries, restore, the fleet's health, a re-check on demand through the
//! cron's own queue, and the audit log searched across tenants (JSON or CSV). The decisions
//! (what a search may ask, how rows become a file, how counts add up) are
//! `byok_core::console`'s.

use byok_core::api::{AuditEntry, ProblemKind};
use byok_core::console::{audit_csv, fleet_counts, AuditSearch, SqlValue, StatusCounts};
use byok_core::events::Job;
use byok_core::ids::{ProviderKey, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use worker::{Request, Response};

use crate::audit::{self, Scope};
use crate::auth::{Principal, Role};
use crate::catalog::{self, entry_of};
use crate::events::JOBS_QUEUE;
use crate::http::{json, problem, ApiError, ApiResult};
use crate::store::{self, int, text};
use crate::util::{now_millis, rfc3339, Counted};
use crate::App;

/// The KV key of the last cron run's summary (`{at, candidates, queued}`).
pub const LAST_RUN_KEY: &str = "cron:last-run";

fn admin(who: &Principal) -> Result<(), ApiError> {
    who.require(&[Role::PlatformAdmin])
}

/// One entry of `GET /v1/admin/providers`: the entry (in English, with its translations) and
/// whether tenants see it.
#[derive(Serialize)]
struct AdminEntry {
    #[serde(flatten)]
    entry: serde_json::Value,
    active: bool,
    /// The platform key's mask (`{masked, fingerprint}`), when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_key: Option<serde_json::Value>,
}

/// `GET /v1/admin/providers`: every entry, active and retired, by key.
pub async fn providers(app: &App, who: &Principal) -> ApiResult {
    admin(who)?;
    let rows = store::all_providers(app.home()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let entry = entry_of(row)?;
        out.push(AdminEntry {
            entry: serde_json::to_value(&entry)
                .map_err(|e| worker::Error::RustError(e.to_string()))?,
            active: row.active == 1,
            platform_key: row
                .platform_secret
                .as_ref()
                .and(row.platform_mask.as_deref())
                .and_then(|m| serde_json::from_str(m).ok()),
        });
    }
    Ok(json(200, &serde_json::json!({ "providers": out }))?)
}

pub(crate) const RESTORE_PROVIDER: &str =
    "UPDATE integration_providers SET active = 1, updated_at = ?2 WHERE key = ?1 AND active = 0";

/// `POST /v1/admin/providers/{key}/restore`: a retired entry back in the Marketplace.
pub async fn restore(app: &App, who: &Principal, key: &str) -> ApiResult {
    admin(who)?;
    let key = catalog::key_from_path(key)?;
    let r = app
        .home()
        .prepare(RESTORE_PROVIDER)
        .bind(&[text(key.as_str()), text(&rfc3339(now_millis()))])?
        .run()
        .await
        .counted()?;
    if r.meta()?.and_then(|m| m.changes).unwrap_or(0) == 0 {
        return Err(problem(
            ProblemKind::NotFound,
            format!("There is no retired provider '{key}'."),
        ));
    }
    catalog::invalidate(app).await;
    crate::resolve::forget_provider(&key);
    audit::record(
        app,
        who,
        Scope::Platform,
        &key,
        "restore-provider",
        "restored",
    )
    .await?;
    Ok(crate::http::empty(204)?)
}

#[derive(Deserialize)]
struct CountRow {
    provider: String,
    status: String,
    n: f64,
}

#[derive(Deserialize)]
struct FailingRow {
    tenant: String,
    provider: String,
    status: String,
    failing_since: Option<String>,
    last_checked_at: Option<f64>,
    last_test: Option<String>,
}

/// A key that stopped working, for the fleet view.
#[derive(Serialize)]
struct Failing {
    tenant: String,
    provider: String,
    status: String,
    failing_since: Option<String>,
    /// RFC 3339.
    last_checked_at: Option<String>,
    /// Why, in words (the last test's failure summary); never a key.
    why: Option<String>,
}

#[derive(Serialize)]
struct Fleet {
    providers: BTreeMap<String, StatusCounts>,
    failing: Vec<Failing>,
    /// The page after this one: pass as `failing_after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_next: Option<String>,
    last_run: Option<serde_json::Value>,
}

/// How many failing keys one fleet page lists.
const FAILING_PAGE: i64 = 50;

/// `GET /v1/admin/fleet[?failing_after=SINCE|TENANT|PROVIDER]`: installs by provider and
/// status, the failing keys (oldest failure first, paged), and the last cron run.
pub async fn fleet(req: &Request, app: &App, who: &Principal) -> ApiResult {
    admin(who)?;
    let url = req.url()?;
    let after = url
        .query_pairs()
        .find(|(k, _)| k == "failing_after")
        .map(|(_, v)| v.into_owned());
    // Each database keeps its own counts (triggers): the fleet's are their sums. Each
    // database is asked for its counts and its failing keys side by side.
    let reads = app.shards().iter().map(|db| async {
        let counts = db
            .prepare(store::FLEET_COUNTS)
            .all()
            .await
            .counted()?
            .results::<CountRow>()?;
        let failing: Vec<FailingRow> =
            store::failing(db, after.as_deref(), FAILING_PAGE + 1).await?;
        Ok::<_, worker::Error>((counts, failing))
    });
    let (read, catalog) = futures_util::future::join(
        futures_util::future::join_all(reads),
        store::provider_keys(app.home()),
    )
    .await;
    let catalog = catalog?;
    let (mut counts, mut failing) = (Vec::new(), Vec::new());
    for r in read {
        let (c, f) = r?;
        counts.extend(c);
        failing.extend(f);
    }
    let (providers, unknown) = fleet_counts(
        catalog.iter().map(String::as_str),
        counts
            .iter()
            .map(|c| (c.provider.as_str(), c.status.as_str(), c.n.max(0.0) as u64)),
    );
    if !unknown.is_empty() {
        worker::console_error!("integrations in statuses the service does not know: {unknown:?}");
    }
    // Each database's first page after the cursor (a position by value, the same in every
    // database), then the first page of those, in the same order.
    failing.sort_by(|a, b| {
        (&a.failing_since, &a.tenant, &a.provider).cmp(&(&b.failing_since, &b.tenant, &b.provider))
    });
    let more = failing.len() as i64 > FAILING_PAGE;
    let failing: Vec<Failing> = failing
        .into_iter()
        .take(FAILING_PAGE as usize)
        .map(|r| Failing {
            why: r
                .last_test
                .as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .and_then(|t| {
                    t.pointer("/failure/summary")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned)
                }),
            last_checked_at: r.last_checked_at.map(|ms| rfc3339(ms.max(0.0) as u64)),
            tenant: r.tenant,
            provider: r.provider,
            status: r.status,
            failing_since: r.failing_since,
        })
        .collect();
    let failing_next = more.then(|| {
        failing
            .last()
            .map(|f| {
                format!(
                    "{}|{}|{}",
                    f.failing_since.as_deref().unwrap_or(""),
                    f.tenant,
                    f.provider
                )
            })
            .unwrap_or_default()
    });
    let last_run = app
        .kv
        .get(LAST_RUN_KEY)
        .json::<serde_json::Value>()
        .await
        .counted()
        .ok()
        .flatten();
    Ok(json(
        200,
        &Fleet {
            providers,
            failing,
            failing_next,
            last_run,
        },
    )?)
}

/// `POST /v1/admin/tenants/{tenant}/integrations/{key}/recheck`: queues the key's re-check
/// on the cron's queue, as the cron would (the consumer re-tests it, records the outcome,
/// emits the event and the webhook). 202; 404 when there is no saved key to re-check.
pub async fn recheck_now(app: &App, who: &Principal, tenant: &str, key: &str) -> ApiResult {
    admin(who)?;
    let tenant = TenantId::parse(tenant)
        .map_err(|e| problem(ProblemKind::NotFound, format!("The tenant {e}.")))?;
    let key = catalog::key_from_path(key)?;
    let row =
        store::integration(app.db_for(tenant.as_str()), tenant.as_str(), key.as_str()).await?;
    let Some(row) = row.filter(|r| r.secret.is_some()) else {
        return Err(problem(
            ProblemKind::NotFound,
            format!("Tenant '{tenant}' has no saved key for '{key}' to re-check."),
        ));
    };
    let message = crate::recheck::message(&row);
    app.env
        .queue(JOBS_QUEUE)?
        .send(Job::Recheck(message))
        .await
        .counted()?;
    store::audit(
        app.db_for(tenant.as_str()),
        &AuditEntry {
            at: rfc3339(now_millis()),
            actor: who.sub.clone(),
            tenant: Some(tenant.clone()),
            provider: Some(key.clone()),
            action: "recheck-now".into(),
            outcome: "queued".into(),
        },
    )
    .await?;
    Ok(json(
        202,
        &serde_json::json!({"queued": true, "tenant": tenant, "provider": key}),
    )?)
}

#[derive(Deserialize)]
struct AuditRow {
    id: f64,
    at: String,
    actor: String,
    tenant: Option<String>,
    provider: Option<String>,
    action: String,
    outcome: String,
}

/// `GET /v1/admin/audit`: the whole audit log searched (by tenant, provider, action, actor,
/// time), newest first, paged by id; `format=csv` answers a file.
pub async fn audit_search(req: &Request, app: &App, who: &Principal) -> ApiResult {
    admin(who)?;
    let url = req.url()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let search = AuditSearch::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let (sql, values) = search.query();
    let params: Vec<wasm_bindgen::JsValue> = values
        .into_iter()
        .map(|v| match v {
            SqlValue::Text(t) => text(&t),
            SqlValue::Int(n) => int(n),
        })
        .collect();
    // A search for one tenant reads its database; any other reads every database and takes
    // the newest page of what they answer: audit ids are unique across databases and follow
    // time (`byok_core::shard::audit_id`), so `before` pages through all of them alike.
    let dbs = match &search.tenant {
        Some(t) => std::slice::from_ref(app.db_for(t.as_str())),
        None => app.shards(),
    };
    // Side by side, so the answer takes as long as the slowest database, not their sum.
    let reads = dbs.iter().map(|db| async {
        db.prepare(&sql)
            .bind(&params)?
            .all()
            .await
            .counted()?
            .results::<AuditRow>()
    });
    let mut rows = Vec::new();
    for read in futures_util::future::join_all(reads).await {
        rows.extend(read?);
    }
    rows.sort_by(|a, b| b.id.total_cmp(&a.id));
    rows.truncate(search.limit as usize);
    let next_before = (rows.len() as u32 == search.limit)
        .then(|| rows.last().map(|r| r.id as i64))
        .flatten();
    let entries: Vec<(i64, AuditEntry)> = rows
        .into_iter()
        .map(|r| {
            (
                r.id as i64,
                AuditEntry {
                    at: r.at,
                    actor: r.actor,
                    tenant: r.tenant.and_then(|t| TenantId::parse(&t).ok()),
                    provider: r.provider.and_then(|p| ProviderKey::parse(&p).ok()),
                    action: r.action,
                    outcome: r.outcome,
                },
            )
        })
        .collect();
    if search.csv {
        let only: Vec<AuditEntry> = entries.into_iter().map(|(_, e)| e).collect();
        let resp = Response::ok(audit_csv(&only))?;
        let h = resp.headers();
        h.set("content-type", "text/csv; charset=utf-8")?;
        h.set(
            "content-disposition",
            "attachment; filename=\"byok-audit.csv\"",
        )?;
        h.set("x-content-type-options", "nosniff")?;
        h.set("cache-control", "no-store")?;
        if let Some(b) = next_before {
            h.set("x-byok-next-before", &b.to_string())?;
        }
        return Ok(resp);
    }
    let entries: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|(id, e)| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["id"] = serde_json::json!(id);
            v
        })
        .collect();
    Ok(json(
        200,
        &serde_json::json!({"entries": entries, "next_before": next_before}),
    )?)
}

/// `POST /v1/admin/providers/{key}/try`: runs the entry's connection test on a key the admin
/// pastes, through the real test path, and answers the report with the exchange (each request's
/// method, URL with the key scrubbed, status and duration). The key is never stored, logged or
/// echoed; nothing is recorded but an audit row saying a try ran and its verdict.
pub async fn try_key(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    use byok_core::api::CredentialRequest;
    use byok_core::credential::Credential;
    use byok_core::mask::FormValue;
    admin(who)?;
    let key = catalog::key_from_path(key)?;
    let body: CredentialRequest = crate::http::read_json(req, 64 * 1024).await?;
    let (_, entry) = catalog::stored_entry(app, &key).await?;
    let secret = match FormValue::parse(body.key, None)? {
        FormValue::New(secret) => secret,
        FormValue::Unchanged => {
            return Err(problem(
                ProblemKind::ValidationFailed,
                "Paste the key to try.",
            ))
        }
    };
    let (credential, warnings) = Credential::check(&entry, secret, body.fields)?;
    let primary = credential.primary_name().to_owned();
    let opened = crate::credentials::Opened {
        secret: credential.primary().clone(),
        fields: credential
            .values()
            .filter(|(f, _)| f.name != primary)
            .map(|(f, v)| {
                (
                    f.name.clone(),
                    byok_core::ExposeSecret::expose_secret(v).to_owned(),
                )
            })
            .collect(),
    };
    let values: Vec<String> = credential
        .values()
        .filter(|(f, _)| f.secret)
        .map(|(_, v)| byok_core::ExposeSecret::expose_secret(v).to_owned())
        .collect();
    let egress = crate::egress::RecordingEgress::new(values.iter().map(String::as_str));
    let started = now_millis();
    let mut report = crate::connection::run_with(app, &entry, &opened, true, &egress).await;
    // Why it failed, in the words a tenant would read (a key tried here never worked before).
    report.failure = byok_core::failure::classify(report.verdict, false, report.hint)
        .map(|f| f.view_with(&report.missing_scopes));
    let duration_ms = now_millis().saturating_sub(started);
    audit::record(
        app,
        who,
        Scope::Platform,
        &key,
        "try-key",
        serde_json::to_value(report.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            .unwrap_or("unknown"),
    )
    .await?;
    let exchange = egress.log.into_inner();
    Ok(json(
        200,
        &serde_json::json!({
            "report": report,
            "format_warnings": warnings,
            "exchange": exchange,
            "duration_ms": duration_ms,
        }),
    )?)
}

/// One row of `GET /v1/admin/platform-keys`.
#[derive(Serialize)]
struct PlatformKeyView {
    provider: String,
    active: bool,
    /// `{masked, fingerprint}`.
    mask: Option<serde_json::Value>,
    /// What its last test left: `connected`, `invalid` or `unverified` (`null`: never tested
    /// since it was set).
    status: Option<String>,
    /// RFC 3339: when a test of it last concluded.
    verified_at: Option<String>,
    /// `YYYY-MM-DD`: the last day a tenant's call resolved to it.
    last_used: Option<String>,
}

/// `GET /v1/admin/platform-keys`: every platform key set, masked, with its last test and the
/// last day it was used. Reads the catalog's rows and one index lookup per key (in one batch).
pub async fn platform_keys(app: &App, who: &Principal) -> ApiResult {
    admin(who)?;
    let rows = store::platform_keys(app.home()).await?;
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    // Each database's last day per key (days sort as text): the latest of them.
    let mut used: Vec<Option<String>> = vec![None; keys.len()];
    for db in app.shards() {
        for (last, day) in used
            .iter_mut()
            .zip(store::platform_last_used(db, &keys).await?)
        {
            *last = std::cmp::max(last.take(), day);
        }
    }
    let out: Vec<PlatformKeyView> = rows
        .into_iter()
        .zip(used)
        .map(|(r, last_used)| PlatformKeyView {
            provider: r.key,
            active: r.active == 1,
            mask: r.platform_mask.and_then(|m| serde_json::from_str(&m).ok()),
            status: r.platform_status,
            verified_at: r.platform_verified_at,
            last_used,
        })
        .collect();
    Ok(json(200, &serde_json::json!({ "platform_keys": out }))?)
}

/// `POST /v1/admin/platform-keys/{key}/test`: the entry's connection test on the platform key
/// (the real test path, as for a tenant's key), recorded against the key tested: a key replaced
/// meanwhile keeps its own record. Answers the status, when it was verified, and the report.
pub async fn test_platform_key(app: &App, who: &Principal, key: &str) -> ApiResult {
    use byok_core::keyring::Owner;
    use byok_core::status::Status;
    admin(who)?;
    let key = catalog::key_from_path(key)?;
    let (row, entry) = catalog::stored_entry(app, &key).await?;
    let Some(sealed) = row.platform_secret.as_deref() else {
        return Err(problem(
            ProblemKind::NotFound,
            format!("No platform key is set for '{key}': set one first."),
        ));
    };
    let opened = crate::credentials::open(
        &app.keyring,
        Owner::Platform,
        &key,
        sealed,
        row.platform_fields.as_deref(),
    )?;
    let mut report = crate::connection::run(app, &entry, &opened, false).await;
    let worked = matches!(row.platform_status.as_deref(), Some("connected"));
    report.failure = byok_core::failure::classify(report.verdict, worked, report.hint)
        .map(|f| f.view_with(&report.missing_scopes));
    let finding = report.verdict.finding();
    let previous = row.platform_status.as_deref().and_then(Status::parse);
    let status = byok_core::console::platform_key_after(previous, finding);
    let now = rfc3339(now_millis());
    let verified_at = (finding != byok_core::status::Finding::Inconclusive).then_some(now.as_str());
    let recorded = store::record_platform_check(
        app.home(),
        key.as_str(),
        sealed,
        status.as_str(),
        verified_at,
    )
    .await?;
    let outcome = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    audit::record(
        app,
        who,
        Scope::Platform,
        &key,
        "test-platform-key",
        &outcome,
    )
    .await?;
    if !recorded {
        return Err(problem(
            ProblemKind::Conflict,
            "The platform key was replaced while it was being tested; test the new one.",
        ));
    }
    Ok(json(
        200,
        &serde_json::json!({
            "provider": key,
            "status": status.as_str(),
            "verified_at": verified_at.map(str::to_owned).or(row.platform_verified_at),
            "report": report,
        }),
    )?)
}
