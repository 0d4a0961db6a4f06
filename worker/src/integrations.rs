//! A tenant's integrations: list, install (now or later), save a key, test, uninstall.

use std::collections::BTreeMap;

use byok_core::api::{
    AuditBy, CredentialRequest, InstallRequest, IntegrationList, IntegrationView, ProblemKind,
    ReportedVerdict, TestReport,
};
use byok_core::catalog::CatalogEntry;
use byok_core::credential::{Credential, FormatWarning};
use byok_core::events::{status_changed, Cause, Reason};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::Owner;
use byok_core::limits::Action;
use byok_core::mask::{FormValue, Mask};
use byok_core::recheck::Health;
use byok_core::status::{Event, Finding, Status};
use byok_core::SecretString;
use worker::Request;

use crate::audit::{self, Scope};
use crate::auth::{Principal, Role};
use crate::catalog::{active_entry, entry_of, key_from_path, stored_entry};
use crate::credentials::{self, plain_fields};
use crate::http::{empty, json, problem, read_json, ApiError, ApiResult};
use crate::store::{self, IntegrationRow};
use crate::util::{now_millis, rfc3339};
use crate::{connection, events, limits, resolve, App};

const MAX_BODY: usize = 32 * 1024;

pub fn status_of(row: &IntegrationRow) -> Result<Status, ApiError> {
    Status::parse(&row.status)
        .ok_or_else(|| problem(ProblemKind::Internal, "A stored status is invalid."))
}

fn status_str(s: Status) -> String {
    s.as_str().to_owned()
}

fn view(
    row: &IntegrationRow,
    entry: &CatalogEntry,
    warnings: Vec<FormatWarning>,
) -> Result<IntegrationView, ApiError> {
    Ok(IntegrationView {
        provider: entry.key().clone(),
        name: entry.spec().name.clone(),
        logo: entry.spec().logo.clone(),
        category: entry.category_label().to_owned(),
        status: status_of(row)?,
        mask: row
            .mask
            .as_deref()
            .and_then(|m| serde_json::from_str::<Mask>(m).ok()),
        fields: plain_fields(row.fields.as_deref()),
        last_test: row
            .last_test
            .as_deref()
            .and_then(|t| serde_json::from_str::<TestReport>(t).ok()),
        format_warnings: warnings,
        installed_at: row.installed_at.clone(),
        updated_at: row.updated_at.clone(),
        last_used_at: row.last_used_at.clone(),
        last_verified_at: row.last_verified_at.clone(),
        failing_since: row.failing_since.clone(),
    })
}

/// The entry of an installed provider, active or retired (installs keep their keys).
async fn installed_entry(app: &App, key: &ProviderKey) -> Result<CatalogEntry, ApiError> {
    Ok(stored_entry(app, key).await?.1)
}

async fn installed_row(
    app: &App,
    who: &Principal,
    key: &ProviderKey,
) -> Result<IntegrationRow, ApiError> {
    store::integration(&app.db, who.tenant.as_str(), key.as_str())
        .await?
        .ok_or_else(|| problem(ProblemKind::NotFound, format!("'{key}' is not installed for this account. Install it from the Marketplace first.")))
}

/// `GET /v1/integrations`.
pub async fn list(app: &App, who: &Principal) -> ApiResult {
    who.require_tenant_user()?;
    // Two queries whatever the number of integrations: the rows, and their entries.
    let (rows, providers) = futures_util::future::join(
        store::integrations(&app.db, who.tenant.as_str()),
        store::providers_of_tenant(&app.db, who.tenant.as_str()),
    )
    .await;
    let entries: std::collections::HashMap<String, CatalogEntry> = providers?
        .iter()
        .map(|p| entry_of(p).map(|e| (p.key.clone(), e)))
        .collect::<Result<_, _>>()?;
    let mut integrations = Vec::new();
    for row in &rows? {
        let entry = entries.get(&row.provider).ok_or_else(|| {
            problem(
                ProblemKind::Internal,
                "An integration names a provider that is not stored.",
            )
        })?;
        integrations.push(view(row, entry, Vec::new())?);
    }
    Ok(json(200, &IntegrationList { integrations })?)
}

/// Checks and seals a submitted credential.
fn prepare(
    app: &App,
    who: &Principal,
    entry: &CatalogEntry,
    key: SecretString,
    fields: BTreeMap<String, SecretString>,
) -> Result<
    (
        Credential,
        Vec<FormatWarning>,
        credentials::SealedCredential,
    ),
    ApiError,
> {
    let (credential, warnings) = Credential::check(entry, key, fields)?;
    let sealed = credentials::seal(
        &app.keyring,
        Owner::Tenant(&who.tenant),
        entry.key(),
        &credential,
    )?;
    Ok((credential, warnings, sealed))
}

/// Tests a stored credential and records the result (unless the key changed meanwhile) with
/// its audit row, the row's health (failing since, transient failures in a row), and a status
/// event when the status moved. `new_key` says the key was just saved (then the plugin's format
/// check runs); `reason` says who asked (a member, the scheduler, a usage report), and the
/// verdict is added to it.
pub async fn test_and_record(
    app: &App,
    who: &Principal,
    entry: &CatalogEntry,
    row: &mut IntegrationRow,
    new_key: bool,
    reason: Reason,
) -> Result<(), ApiError> {
    let opened = open_stored(app, &who.tenant, entry, row)?;
    test_opened_and_record(app, who, entry, row, opened, new_key, reason).await
}

/// The row's stored key, opened for a test: a 409 when it has none, a 500 naming no value
/// when it does not open under this keyring. No I/O.
pub fn open_stored(
    app: &App,
    tenant: &TenantId,
    entry: &CatalogEntry,
    row: &IntegrationRow,
) -> Result<credentials::Opened, ApiError> {
    let Some(secret) = row.secret.as_deref() else {
        return Err(problem(
            ProblemKind::Conflict,
            "This integration has no key to test: add one first.",
        ));
    };
    credentials::open(
        &app.keyring,
        Owner::Tenant(tenant),
        entry.key(),
        secret,
        row.fields.as_deref(),
    )
}

/// [`test_and_record`] for a key already opened by [`open_stored`] from this `row`.
pub async fn test_opened_and_record(
    app: &App,
    who: &Principal,
    entry: &CatalogEntry,
    row: &mut IntegrationRow,
    opened: credentials::Opened,
    new_key: bool,
    reason: Reason,
) -> Result<(), ApiError> {
    let secret = row.secret.as_deref().unwrap_or_default();
    let report = connection::run(app, entry, &opened, new_key).await;
    let before = status_of(row)?;
    let finding = report.verdict.finding();
    let next = before
        .apply(Event::Tested(finding))
        .map_err(|e| problem(ProblemKind::Conflict, e.to_string()))?;
    let report_json =
        serde_json::to_string(&report).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let now_ms = now_millis();
    let now = rfc3339(now_ms);
    let health = health_of(row).after(finding, now_ms);
    // A run of failures under way keeps its stored start; one that begins now starts now.
    let failing_since = match (health.failing_since_ms, &row.failing_since) {
        (None, _) => None,
        (Some(_), Some(kept)) => Some(kept.clone()),
        (Some(ms), None) => Some(rfc3339(ms)),
    };
    let outcome = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let audit = audit::entry(who, Scope::Tenant, entry.key(), "test", &outcome);
    let status = status_str(next);
    let verified = finding != Finding::Inconclusive;
    let record = store::TestRecord {
        status: &status,
        last_test: &report_json,
        since: &row.updated_at,
        sealed: secret,
        now: &now,
        now_ms,
        verified,
        failing_since: failing_since.as_deref(),
        transient_failures: health.transient_failures,
    };
    let reason = Reason {
        verdict: match report.verdict {
            ReportedVerdict::Plugin(v) => Some(v),
            ReportedVerdict::Host(_) => None,
        },
        ..reason
    };
    // The event, if the status moves, is stored in the same batch as the change.
    let event = events::prepare_change(
        app,
        status_changed(&row.tenant, &row.provider, before, next, reason, &now),
    );
    let recorded = crate::util::timed(
        "d1-write",
        store::record_test(
            &app.db,
            &row.tenant,
            &row.provider,
            &record,
            &audit,
            event.as_ref().map(events::Prepared::row),
        ),
    )
    .await?;
    if recorded {
        row.status = status;
        row.last_test = Some(report_json);
        if verified {
            row.last_verified_at = Some(now.clone());
        }
        row.last_checked_at = Some(now_ms as f64);
        row.failing_since = failing_since;
        row.transient_failures = Some(f64::from(health.transient_failures));
        row.updated_at = now;
        if let Some(p) = event {
            events::queue_delivery(app, p).await;
        }
    }
    Ok(())
}

/// What the row remembers about its recent tests.
pub(crate) fn health_of(row: &IntegrationRow) -> Health {
    Health {
        // Only whether a run of failures is under way matters here; its start is kept as text.
        failing_since_ms: row.failing_since.as_ref().map(|_| 0),
        transient_failures: row.transient_failures.unwrap_or(0.0) as u32,
    }
}

/// `POST /v1/integrations`: install with a key (saved, then tested) or without one.
pub async fn install(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require_tenant_user()?;
    let body: InstallRequest = read_json(req, MAX_BODY).await?;
    // With or without a key: each install writes rows and an audit entry.
    limits::check(app, Action::Install, who.tenant.as_str(), &who.sub).await?;
    let (_, entry) = active_entry(app, &body.provider).await?;
    let now = rfc3339(now_millis());
    let mut row = IntegrationRow {
        tenant: who.tenant.as_str().to_owned(),
        provider: entry.key().as_str().to_owned(),
        status: status_str(Status::installed(false)),
        secret: None,
        fields: None,
        key_id: None,
        mask: None,
        last_test: None,
        installed_at: now.clone(),
        updated_at: now,
        last_used_at: None,
        last_verified_at: None,
        retest_claimed_at: None,
        last_checked_at: None,
        failing_since: None,
        transient_failures: None,
    };
    let mut warnings = Vec::new();
    match body.key {
        None if !body.fields.is_empty() => {
            return Err(problem(
                ProblemKind::ValidationFailed,
                "Fields were sent without a key: send the key too, or neither to add it later.",
            ))
        }
        None => {}
        Some(key) => {
            let key = match FormValue::parse(key, None)? {
                FormValue::New(k) => k,
                FormValue::Unchanged => {
                    return Err(problem(
                        ProblemKind::ValidationFailed,
                        "Paste the full key.",
                    ))
                }
            };
            let (_, w, sealed) = prepare(app, who, &entry, key, body.fields)?;
            warnings = w;
            row.status = status_str(Status::installed(true));
            row.fields = Some(sealed.fields_json());
            row.mask = Some(sealed.mask_json());
            row.key_id = Some(sealed.key_id.clone());
            row.secret = Some(sealed.secret);
        }
    }
    if !store::insert_integration(&app.db, &row).await? {
        return Err(problem(
            ProblemKind::Conflict,
            format!(
                "'{}' is already installed: use Settings → Integrations to change its key.",
                entry.key()
            ),
        ));
    }
    resolve::forget(&who.tenant, entry.key());
    audit::record(app, who, Scope::Tenant, entry.key(), "install", &row.status).await?;
    if row.secret.is_some() {
        // Installing with a key is installing, then saving it.
        events::emit(
            app,
            status_changed(
                &row.tenant,
                &row.provider,
                Status::Disconnected,
                Status::installed(true),
                Reason::key_saved(),
                &row.updated_at,
            ),
        )
        .await;
        let tested =
            test_and_record(app, who, &entry, &mut row, true, Reason::by(Cause::Test)).await;
        // Again after the test's status is recorded (or failed to be): a resolve read
        // meanwhile is stale.
        resolve::forget(&who.tenant, entry.key());
        tested?;
    }
    Ok(json(201, &view(&row, &entry, warnings)?)?)
}

/// `PUT /v1/integrations/{key}/credential`: save a new key (then tested). The mask sent back
/// untouched means "keep the key"; a refused key leaves the stored one in place.
pub async fn save(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require_tenant_user()?;
    let key = key_from_path(key)?;
    let body: CredentialRequest = read_json(req, MAX_BODY).await?;
    limits::check(app, Action::SaveKey, who.tenant.as_str(), &who.sub).await?;
    let mut row = installed_row(app, who, &key).await?;
    let entry = installed_entry(app, &key).await?;
    let current_mask = row
        .mask
        .as_deref()
        .and_then(|m| serde_json::from_str::<Mask>(m).ok());
    let (secret, fields) = match FormValue::parse(body.key, current_mask.as_ref())? {
        FormValue::New(secret) => (secret, body.fields),
        FormValue::Unchanged => {
            let stored = row.secret.as_deref().ok_or_else(|| {
                problem(
                    ProblemKind::ValidationFailed,
                    "No key is saved yet: paste the key.",
                )
            })?;
            let opened = credentials::open(
                &app.keyring,
                Owner::Tenant(&who.tenant),
                &key,
                stored,
                row.fields.as_deref(),
            )?;
            let stored_fields: BTreeMap<String, String> = opened.fields.iter().cloned().collect();
            let submitted: BTreeMap<String, String> = body
                .fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        byok_core::ExposeSecret::expose_secret(v).to_owned(),
                    )
                })
                .collect();
            if body.fields.is_empty() || submitted == stored_fields {
                return Ok(json(200, &view(&row, &entry, Vec::new())?)?);
            }
            (opened.secret, body.fields)
        }
    };
    let (_, warnings, sealed) = prepare(app, who, &entry, secret, fields)?;
    let before = status_of(&row)?;
    let next = before
        .apply(Event::KeySaved)
        .map_err(|e| problem(ProblemKind::Conflict, e.to_string()))?;
    row.status = status_str(next);
    row.fields = Some(sealed.fields_json());
    row.mask = Some(sealed.mask_json());
    row.key_id = Some(sealed.key_id.clone());
    row.secret = Some(sealed.secret);
    row.last_test = None;
    row.failing_since = None;
    row.transient_failures = None;
    row.updated_at = rfc3339(now_millis());
    // The event, if the status moves, is stored in the same batch as the new key.
    let event = events::prepare_change(
        app,
        status_changed(
            &row.tenant,
            &row.provider,
            before,
            next,
            Reason::key_saved(),
            &row.updated_at,
        ),
    );
    let stored =
        store::update_credential(&app.db, &row, event.as_ref().map(events::Prepared::row)).await?;
    if !stored {
        return Err(problem(
            ProblemKind::NotFound,
            format!("'{key}' was uninstalled meanwhile; nothing was saved."),
        ));
    }
    resolve::forget(&who.tenant, &key);
    audit::record(app, who, Scope::Tenant, &key, "save-key", &row.status).await?;
    if let Some(p) = event {
        events::queue_delivery(app, p).await;
    }
    let tested = test_and_record(app, who, &entry, &mut row, true, Reason::by(Cause::Test)).await;
    // Again after the test's status is recorded (or failed to be): a resolve read meanwhile is
    // stale.
    resolve::forget(&who.tenant, &key);
    tested?;
    Ok(json(200, &view(&row, &entry, warnings)?)?)
}

/// `POST /v1/integrations/{key}/test`.
pub async fn test(app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require_tenant_user()?;
    let key = key_from_path(key)?;
    crate::util::take_server_timing();
    limits::check(app, Action::Test, who.tenant.as_str(), &who.sub).await?;
    let (row, entry) = crate::util::timed(
        "d1-read",
        futures_util::future::join(installed_row(app, who, &key), installed_entry(app, &key)),
    )
    .await;
    let (mut row, entry) = (row?, entry?);
    let tested = test_and_record(app, who, &entry, &mut row, false, Reason::by(Cause::Test)).await;
    resolve::forget(&who.tenant, &key);
    tested?;
    let resp = json(200, &view(&row, &entry, Vec::new())?)?;
    // Where the test's time went: the plugin's load and run (its fetches within), the reads
    // and the write.
    resp.headers()
        .set("server-timing", &crate::util::take_server_timing())?;
    Ok(resp)
}

/// `DELETE /v1/integrations/{key}`: owners only; the ciphertext goes with the row.
pub async fn uninstall(app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::Owner])?;
    let key = key_from_path(key)?;
    limits::check(app, Action::Uninstall, who.tenant.as_str(), &who.sub).await?;
    if !store::delete_integration(&app.db, who.tenant.as_str(), key.as_str()).await? {
        return Err(problem(
            ProblemKind::NotFound,
            format!("'{key}' is not installed for this account."),
        ));
    }
    resolve::forget(&who.tenant, &key);
    audit::record(app, who, Scope::Tenant, &key, "uninstall", "removed").await?;
    Ok(empty(204)?)
}

/// `GET /v1/audit`: this tenant's log, newest first (owners only).
/// `GET /v1/audit[?by=all|people|automated][&actor=NAME]` (owner): the tenant's log, newest
/// first; `by=people` leaves out the scheduler's and usage reports' automatic re-tests.
pub async fn audit_log(req: &Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::Owner])?;
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let by = match param("by") {
        None => AuditBy::All,
        Some(v) => AuditBy::parse(&v).ok_or_else(|| {
            problem(
                ProblemKind::ValidationFailed,
                "by must be all, people or automated.",
            )
        })?,
    };
    let actor = param("actor");
    if actor
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.len() > 200)
    {
        return Err(problem(
            ProblemKind::ValidationFailed,
            "actor must be 1 to 200 characters.",
        ));
    }
    let entries = store::audit_for(&app.db, who.tenant.as_str(), by, actor.as_deref(), 200).await?;
    Ok(json(200, &serde_json::json!({ "entries": entries }))?)
}
