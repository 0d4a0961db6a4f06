//! A tenant's integrations: list, install (now or later), save a key, test, uninstall.

use std::collections::BTreeMap;

use byok_core::api::{
    AuditBy, CredentialRequest, InstallRequest, IntegrationList, IntegrationView, PendingView,
    Problem, ProblemKind, ReportedVerdict, SwitchRequest, TestReport,
};
use byok_core::catalog::CatalogEntry;
use byok_core::credential::{Credential, FormatWarning};
use byok_core::events::{key_replaced, status_changed, Cause, Reason};
use byok_core::failure::{self, Failure};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::Owner;
use byok_core::limits::Action;
use byok_core::mask::{FormValue, Mask};
use byok_core::recheck::Health;
use byok_core::replace::{
    Candidate, Input, Outcome, PendingState, Serving, Slot, TEST_DEADLINE_MS,
};
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
        last_test: stored_report(row.last_test.as_deref()),
        format_warnings: warnings,
        installed_at: row.installed_at.clone(),
        updated_at: row.updated_at.clone(),
        last_used_at: row.last_used_at.clone(),
        last_verified_at: row.last_verified_at.clone(),
        failing_since: row.failing_since.clone(),
        key_version: row.key_version(),
        pending: pending_view(row, now_millis()),
        expires_at: row.expires_at.map(|t| rfc3339(t.max(0.0) as u64)),
    })
}

/// A typed expiry, checked against the clock: a 422 that says what to send otherwise.
fn expiry_of(text: Option<&str>) -> Result<Option<u64>, ApiError> {
    text.map(|t| {
        byok_core::expiry::parse(t, now_millis())
            .map_err(|e| problem(ProblemKind::ValidationFailed, format!("{e}.")))
    })
    .transpose()
}

/// A stored test report, its failure said in today's words.
fn stored_report(json: Option<&str>) -> Option<TestReport> {
    let mut report = serde_json::from_str::<TestReport>(json?).ok()?;
    report.failure = report
        .failure
        .map(|f| f.reason.view_with(&report.missing_scopes));
    Some(report)
}

/// The pending key's state as stored, read at `now_ms` (a test that never finished reads as
/// inconclusive).
fn pending_state(row: &IntegrationRow, now_ms: u64) -> Option<PendingState> {
    let stored = PendingState::parse(row.pending_state.as_deref()?)?;
    Some(stored.at(row.pending_at.unwrap_or(0.0).max(0.0) as u64, now_ms))
}

fn pending_view(row: &IntegrationRow, now_ms: u64) -> Option<PendingView> {
    Some(PendingView {
        version: row.pending_version? as u64,
        state: pending_state(row, now_ms)?,
        mask: row
            .pending_mask
            .as_deref()
            .and_then(|m| serde_json::from_str::<Mask>(m).ok()),
        fields: plain_fields(row.pending_fields.as_deref()),
        saved_by: row.pending_by.clone().unwrap_or_default(),
        saved_at: rfc3339(row.pending_at.unwrap_or(0.0).max(0.0) as u64),
        last_test: stored_report(row.pending_test.as_deref()),
        expires_at: row.pending_expires_at.map(|t| rfc3339(t.max(0.0) as u64)),
    })
}

/// The row's keys, as `byok_core::replace` models them.
fn slot_of(row: &IntegrationRow, now_ms: u64) -> Result<Slot, ApiError> {
    let status = status_of(row)?;
    Ok(Slot {
        serving: row
            .secret
            .as_ref()
            .map(|_| Serving::from_status(row.key_version(), status)),
        candidate: row.pending_version.map(|v| Candidate {
            version: v.max(0.0) as u64,
            inconclusive: pending_state(row, now_ms) == Some(PendingState::Inconclusive),
        }),
        last_version: row.last_version(),
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
    store::integration(
        app.db_for(who.tenant.as_str()),
        who.tenant.as_str(),
        key.as_str(),
    )
    .await?
    .ok_or_else(|| {
        problem(
            ProblemKind::NotFound,
            format!(
                "'{key}' is not installed for this account. Install it from the Marketplace first."
            ),
        )
    })
}

/// `GET /v1/integrations`.
pub async fn list(app: &App, who: &Principal) -> ApiResult {
    who.require_tenant_user()?;
    // Two queries side by side whatever the number of integrations: the tenant's rows (in
    // its database), and the catalog (at home: a few dozen rows, retired ones included),
    // whose entries for those rows are read.
    let tenant = who.tenant.as_str();
    let (rows, providers) = futures_util::future::join(
        store::integrations(app.db_for(tenant), tenant),
        store::all_providers(app.home()),
    )
    .await;
    let rows = rows?;
    let entries: std::collections::HashMap<String, CatalogEntry> = providers?
        .iter()
        .filter(|p| rows.iter().any(|r| r.provider == p.key))
        .map(|p| entry_of(p).map(|e| (p.key.clone(), e)))
        .collect::<Result<_, _>>()?;
    let mut integrations = Vec::new();
    for row in &rows {
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
    // The sealed value tested: a copy, since the row is updated below.
    let sealed = row.secret.clone().unwrap_or_default();
    let secret = sealed.as_slice();
    let mut report = connection::run(app, entry, &opened, new_key).await;
    let failure = failure::classify(report.verdict, row.key_worked(), report.hint);
    report.failure = failure.map(|f| f.view_with(&report.missing_scopes));
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
        next_check_at: crate::recheck::next_check_at(
            Some(entry),
            next,
            health,
            row.expires_at,
            now_ms,
        ),
    };
    let scheduled = reason.cause == byok_core::events::Cause::Recheck;
    let reason = Reason {
        verdict: match report.verdict {
            ReportedVerdict::Plugin(v) => Some(v),
            ReportedVerdict::Host(_) => None,
        },
        failure,
        ..reason
    };
    // The event, if the status moves, is stored in the same batch as the change.
    let event = events::prepare_change(
        app,
        status_changed(&row.tenant, &row.provider, before, next, reason, &now),
    );
    // A scheduled re-check that changes nothing is counted, not written (retention, #24).
    let day = byok_core::usage::day_of(now_ms);
    let audit_write = match byok_core::retention::audit_write(scheduled, before, next) {
        byok_core::retention::AuditWrite::Row => store::TestAudit::Row(&audit),
        byok_core::retention::AuditWrite::Counted => store::TestAudit::Counted {
            day: &day,
            outcome: &outcome,
        },
    };
    let recorded = crate::util::timed(
        "d1-write",
        store::record_test(
            app.db_for(&row.tenant),
            &row.tenant,
            &row.provider,
            &record,
            audit_write,
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
        if next == Status::Connected {
            row.key_worked = Some(1.0);
        }
        row.updated_at = now;
        if let Some(p) = event {
            events::queue_delivery(app, p).await;
        }
        adopt_reported_expiry(app, row, &report, secret).await?;
    }
    Ok(())
}

/// A v2 plugin's test said when the key expires: that date becomes the key's (its notices
/// start again), unless it is the one already stored.
async fn adopt_reported_expiry(
    app: &App,
    row: &mut IntegrationRow,
    report: &TestReport,
    sealed: &[u8],
) -> Result<(), ApiError> {
    let Some(at) = report
        .expires_at
        .as_deref()
        .and_then(|t| byok_core::expiry::read(t).ok())
    else {
        return Ok(());
    };
    if row.expires_at.map(|e| e.max(0.0) as u64) == Some(at) {
        return Ok(());
    }
    if store::set_expiry(
        app.db_for(&row.tenant),
        &row.tenant,
        &row.provider,
        sealed,
        Some(at),
    )
    .await?
    {
        row.expires_at = Some(at as f64);
        row.expiry_notified = Some(0.0);
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
    let expires_at = expiry_of(body.expires_at.as_deref())?;
    if expires_at.is_some() && body.key.is_none() {
        return Err(problem(
            ProblemKind::ValidationFailed,
            "An expiry was sent without a key: send it with the key.",
        ));
    }
    let now = rfc3339(now_millis());
    let mut row = IntegrationRow {
        tenant: who.tenant.as_str().to_owned(),
        provider: entry.key().as_str().to_owned(),
        status: status_str(Status::installed(false)),
        installed_at: now.clone(),
        updated_at: now,
        ..IntegrationRow::default()
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
            row.key_version = Some(1.0);
            row.last_version = Some(1.0);
            row.expires_at = expires_at.map(|e| e as f64);
        }
    }
    if !store::insert_integration(app.db_for(&row.tenant), &row).await? {
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
                // The same key: only its expiry may change, without a new test.
                let expires_at = expiry_of(body.expires_at.as_deref())?;
                let stored_expiry = row.expires_at.map(|e| e.max(0.0) as u64);
                if body.expires_at.is_some() && expires_at != stored_expiry {
                    if !store::set_expiry(
                        app.db_for(&row.tenant),
                        &row.tenant,
                        &row.provider,
                        stored,
                        expires_at,
                    )
                    .await?
                    {
                        return Err(problem(
                            ProblemKind::Conflict,
                            "The key changed while its expiry was being set; reload and try again.",
                        ));
                    }
                    audit::record(
                        app,
                        who,
                        Scope::Tenant,
                        &key,
                        "set-expiry",
                        &format!("expires {}", rfc3339(expires_at.unwrap_or(0))),
                    )
                    .await?;
                    row.expires_at = expires_at.map(|e| e as f64);
                    row.expiry_notified = Some(0.0);
                }
                return Ok(json(200, &view(&row, &entry, Vec::new())?)?);
            }
            (opened.secret, body.fields)
        }
    };
    let expires_at = expiry_of(body.expires_at.as_deref())?;
    let (_, warnings, sealed) = prepare(app, who, &entry, secret, fields)?;
    // Read, decide, write guarded by what was read; a save or a status change in between
    // makes the write miss, and the decision is taken again on the row as it now is.
    for _ in 0..3 {
        let (_, outcome) = slot_of(&row, now_millis())?.apply(Input::Save);
        let written = match outcome {
            Outcome::Stored(version) => {
                store_at_once(app, who, &entry, &mut row, &sealed, version, expires_at).await?
            }
            Outcome::Testing(version) => {
                let pending = store::Pending {
                    version,
                    sealed: &sealed.secret,
                    fields: &sealed.fields_json(),
                    key_id: &sealed.key_id,
                    mask: &sealed.mask_json(),
                    by: &who.sub,
                    at_ms: now_millis(),
                    expires_at,
                };
                if store::stage_pending(
                    app.db_for(&row.tenant),
                    &row.tenant,
                    &row.provider,
                    &pending,
                    row.last_version(),
                )
                .await?
                {
                    return try_pending(app, who, &entry, &row, &sealed, version, warnings).await;
                }
                false
            }
            _ => return Err(problem(ProblemKind::Internal, "A save decided nothing.")),
        };
        if written {
            return Ok(json(200, &view(&row, &entry, warnings)?)?);
        }
        row = installed_row(app, who, &key).await.map_err(|_| {
            problem(
                ProblemKind::NotFound,
                format!("'{key}' was uninstalled meanwhile; nothing was saved."),
            )
        })?;
    }
    Err(problem(
        ProblemKind::Conflict,
        "The key changed several times while this save ran; nothing was saved. Reload and try again.",
    ))
}

/// A new key where none works: it serves at once (as version `version`) and is tested. Whether
/// it was written (`false`: the row changed since it was read).
async fn store_at_once(
    app: &App,
    who: &Principal,
    entry: &CatalogEntry,
    row: &mut IntegrationRow,
    sealed: &credentials::SealedCredential,
    version: u64,
    expires_at: Option<u64>,
) -> Result<bool, ApiError> {
    let read = (row.last_version(), row.updated_at.clone());
    let before = status_of(row)?;
    let next = before
        .apply(Event::KeySaved)
        .map_err(|e| problem(ProblemKind::Conflict, e.to_string()))?;
    let mut new = row.clone();
    new.status = status_str(next);
    new.fields = Some(sealed.fields_json());
    new.mask = Some(sealed.mask_json());
    new.key_id = Some(sealed.key_id.clone());
    new.secret = Some(sealed.secret.clone());
    new.last_test = None;
    new.failing_since = None;
    new.transient_failures = None;
    new.key_version = Some(version as f64);
    new.last_version = Some(version as f64);
    new.key_worked = Some(0.0);
    new.expires_at = expires_at.map(|e| e as f64);
    new.expiry_notified = Some(0.0);
    clear_pending(&mut new);
    new.updated_at = rfc3339(now_millis());
    // The event, if the status moves, is stored in the same batch as the new key.
    let event = events::prepare_change(
        app,
        status_changed(
            &new.tenant,
            &new.provider,
            before,
            next,
            Reason::key_saved(),
            &new.updated_at,
        ),
    );
    let stored = store::store_key(
        app.db_for(&new.tenant),
        &new,
        (read.0, &read.1),
        event.as_ref().map(events::Prepared::row),
    )
    .await?;
    if !stored {
        return Ok(false);
    }
    *row = new;
    let key = entry.key();
    resolve::forget(&who.tenant, key);
    audit::record(app, who, Scope::Tenant, key, "save-key", &row.status).await?;
    if let Some(p) = event {
        events::queue_delivery(app, p).await;
    }
    let tested = test_and_record(app, who, entry, row, true, Reason::by(Cause::Test)).await;
    // Again after the test's status is recorded (or failed to be): a resolve read meanwhile is
    // stale.
    resolve::forget(&who.tenant, key);
    tested?;
    Ok(true)
}

fn clear_pending(row: &mut IntegrationRow) {
    row.pending_version = None;
    row.pending_state = None;
    row.pending_secret = None;
    row.pending_fields = None;
    row.pending_key_id = None;
    row.pending_mask = None;
    row.pending_test = None;
    row.pending_by = None;
    row.pending_at = None;
    row.pending_expires_at = None;
}

/// Tests the pending key `version` (just staged beside the working one) and settles it:
/// promoted when it works (200), dropped when refused (a `key-refused` problem that says why;
/// the working key stays), left waiting for the user when the test could not conclude (202).
async fn try_pending(
    app: &App,
    who: &Principal,
    entry: &CatalogEntry,
    row: &IntegrationRow,
    sealed: &credentials::SealedCredential,
    version: u64,
    warnings: Vec<FormatWarning>,
) -> ApiResult {
    let key = entry.key();
    let opened = credentials::open(
        &app.keyring,
        Owner::Tenant(&who.tenant),
        key,
        &sealed.secret,
        Some(&sealed.fields_json()),
    )?;
    let mut report = connection::run(app, entry, &opened, true).await;
    let failure = failure::classify(report.verdict, false, report.hint);
    report.failure = failure.map(|f| f.view_with(&report.missing_scopes));
    let report_json =
        serde_json::to_string(&report).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let slot = Slot {
        candidate: Some(Candidate {
            version,
            inconclusive: false,
        }),
        last_version: version,
        ..slot_of(row, now_millis())?
    };
    let (_, outcome) = slot.apply(Input::Tested {
        version,
        verdict: report.verdict.finding().into(),
    });
    let current = row
        .mask
        .as_deref()
        .and_then(|m| serde_json::from_str::<Mask>(m).ok())
        .map(|m| format!(" ({})", m.masked))
        .unwrap_or_default();
    let superseded = || {
        problem(
            ProblemKind::Conflict,
            "A later save replaced this key before its test finished; that one is used instead.",
        )
    };
    let audit_of = |outcome: String| audit::entry(who, Scope::Tenant, key, "replace-key", &outcome);
    match outcome {
        Outcome::Promoted(_) => {
            let now_ms = now_millis();
            let now = rfc3339(now_ms);
            let before = status_of(row)?;
            let event = events::prepare_change(
                app,
                Some(key_replaced(
                    &row.tenant,
                    &row.provider,
                    before,
                    Status::Connected,
                    Reason {
                        verdict: match report.verdict {
                            ReportedVerdict::Plugin(v) => Some(v),
                            ReportedVerdict::Host(_) => None,
                        },
                        ..Reason::replaced(&who.sub)
                    },
                    &now,
                )),
            );
            let promoted = store::promote_pending(
                app.db_for(&row.tenant),
                &row.tenant,
                &row.provider,
                version,
                &sealed.secret,
                &report_json,
                &now,
                now_ms,
                &audit_of(format!(
                    "replaced: version {version} passed its test and serves"
                )),
                event.as_ref().map(events::Prepared::row),
            )
            .await?;
            resolve::forget(&who.tenant, key);
            if !promoted {
                return Err(superseded());
            }
            if let Some(p) = event {
                events::queue_delivery(app, p).await;
            }
            let mut row = installed_row(app, who, key).await?;
            adopt_reported_expiry(app, &mut row, &report, &sealed.secret).await?;
            Ok(json(200, &view(&row, entry, warnings)?)?)
        }
        Outcome::Refused(_) => {
            store::drop_pending(app.db_for(&row.tenant), &row.tenant, &row.provider, version)
                .await?;
            let failure = failure.unwrap_or(Failure::WrongKey);
            audit::record(
                app,
                who,
                Scope::Tenant,
                key,
                "replace-key",
                &format!("refused: {}", failure.as_str()),
            )
            .await?;
            let words = failure.words();
            let mut p = Problem::new(
                ProblemKind::KeyRefused,
                format!(
                    "{} refused the new key: {} Nothing changed: your current key{current} stays in use. {}",
                    entry.spec().name,
                    words.summary,
                    words.next_step
                ),
            );
            p.extra.failure = Some(failure.view());
            Err(ApiError(p))
        }
        Outcome::AwaitingChoice(_) => {
            let settled = store::pending_inconclusive(
                app.db_for(&row.tenant),
                &row.tenant,
                &row.provider,
                version,
                &report_json,
            )
            .await?;
            if !settled {
                return Err(superseded());
            }
            let why = failure.map(Failure::as_str).unwrap_or("no test");
            audit::record(
                app,
                who,
                Scope::Tenant,
                key,
                "replace-key",
                &format!(
                    "waiting for a choice: the test of version {version} did not conclude ({why})"
                ),
            )
            .await?;
            let row = installed_row(app, who, key).await?;
            Ok(json(202, &view(&row, entry, warnings)?)?)
        }
        _ => Err(superseded()),
    }
}

/// `POST /v1/integrations/{key}/pending/switch`: use the pending key anyway, once its test
/// could not conclude. It serves from now on (unverified) and is tested again at once.
pub async fn switch_pending(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require_tenant_user()?;
    let key = key_from_path(key)?;
    let body: SwitchRequest = read_json(req, MAX_BODY).await?;
    limits::check(app, Action::SaveKey, who.tenant.as_str(), &who.sub).await?;
    let row = installed_row(app, who, &key).await?;
    let entry = installed_entry(app, &key).await?;
    let now_ms = now_millis();
    let (_, outcome) = slot_of(&row, now_ms)?.apply(Input::SwitchAnyway {
        version: body.version,
    });
    if outcome != Outcome::Chosen(body.version) {
        return Err(not_pending(&row, body.version, now_ms, "switched to"));
    }
    let now = rfc3339(now_ms);
    let before = status_of(&row)?;
    let event = events::prepare_change(
        app,
        Some(key_replaced(
            &row.tenant,
            &row.provider,
            before,
            Status::Unverified,
            Reason::replaced(&who.sub),
            &now,
        )),
    );
    let switched = store::switch_to_pending(
        app.db_for(&row.tenant),
        &row.tenant,
        &row.provider,
        body.version,
        &now,
        now_ms.saturating_sub(TEST_DEADLINE_MS),
        event.as_ref().map(events::Prepared::row),
    )
    .await?;
    resolve::forget(&who.tenant, &key);
    if !switched {
        let row = installed_row(app, who, &key).await?;
        return Err(not_pending(&row, body.version, now_millis(), "switched to"));
    }
    audit::record(
        app,
        who,
        Scope::Tenant,
        &key,
        "switch-key",
        &format!(
            "switched to version {} without a conclusive test",
            body.version
        ),
    )
    .await?;
    if let Some(p) = event {
        events::queue_delivery(app, p).await;
    }
    let mut row = installed_row(app, who, &key).await?;
    let tested = test_and_record(app, who, &entry, &mut row, false, Reason::by(Cause::Test)).await;
    resolve::forget(&who.tenant, &key);
    tested?;
    Ok(json(200, &view(&row, &entry, Vec::new())?)?)
}

/// `DELETE /v1/integrations/{key}/pending?version=N`: drop the pending key; the serving key is
/// untouched.
pub async fn discard_pending(req: &Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require_tenant_user()?;
    let key = key_from_path(key)?;
    let version = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .ok_or_else(|| {
            problem(
                ProblemKind::ValidationFailed,
                "Name the pending key to discard: ?version=N, as shown in its `pending.version`.",
            )
        })?;
    limits::check(app, Action::SaveKey, who.tenant.as_str(), &who.sub).await?;
    let row = installed_row(app, who, &key).await?;
    let entry = installed_entry(app, &key).await?;
    let (_, outcome) = slot_of(&row, now_millis())?.apply(Input::Discard { version });
    if outcome != Outcome::Chosen(version)
        || !store::drop_pending(app.db_for(&row.tenant), &row.tenant, &row.provider, version)
            .await?
    {
        let row = installed_row(app, who, &key).await?;
        return Err(not_pending(&row, version, now_millis(), "discarded"));
    }
    audit::record(
        app,
        who,
        Scope::Tenant,
        &key,
        "discard-key",
        &format!("discarded version {version}; the current key stays in use"),
    )
    .await?;
    let row = installed_row(app, who, &key).await?;
    Ok(json(200, &view(&row, &entry, Vec::new())?)?)
}

/// Why `version` cannot be `what` (switched to, discarded): in words.
fn not_pending(row: &IntegrationRow, version: u64, now_ms: u64, what: &str) -> ApiError {
    let detail = match (pending_view(row, now_ms), row.key_version()) {
        (None, serving) if serving == version => {
            format!("Version {version} is already the key in use.")
        }
        (None, _) => "No new key is waiting: nothing was changed.".to_owned(),
        (Some(p), _) if p.version != version => format!(
            "Version {version} is no longer the waiting key (version {} is): reload and choose again.",
            p.version
        ),
        (Some(_), _) => format!(
            "The new key is still being tested: it can be {what} once its test has finished without a result."
        ),
    };
    problem(ProblemKind::Conflict, detail)
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
    if !store::delete_integration(
        app.db_for(who.tenant.as_str()),
        who.tenant.as_str(),
        key.as_str(),
    )
    .await?
    {
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
    let entries = store::audit_for(
        app.db_for(who.tenant.as_str()),
        who.tenant.as_str(),
        by,
        actor.as_deref(),
        200,
    )
    .await?;
    Ok(json(200, &serde_json::json!({ "entries": entries }))?)
}
