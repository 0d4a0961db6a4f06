//! Platform-admin routes: catalog entries, logos, platform fallback keys.

use byok_core::api::{CredentialRequest, ProblemKind};
use byok_core::catalog::{CatalogEntry, ProviderSpec};
use byok_core::credential::Credential;
use byok_core::keyring::Owner;
use byok_core::mask::FormValue;
use sha2::{Digest, Sha256};
use worker::Request;

use crate::audit::{self, Scope};
use crate::auth::{Principal, Role};
use crate::catalog::{self, active_entry, entry_of, key_from_path, stored_entry};
use crate::credentials;
use crate::http::{empty, json, problem, read_body, read_json, ApiError, ApiResult};
use crate::store;
use crate::util::{now_millis, rfc3339};
use crate::{connection, resolve, App};

pub const LOGO_MAX_BYTES: usize = 64 * 1024;

/// The largest entry body: the entry (64 KiB of text at most) and its fixtures.
pub const ENTRY_MAX_BYTES: usize = 64 * 1024 + byok_core::conformance::MAX_TOTAL_BYTES;

/// `PUT /v1/admin/providers/{key}`: create or update an entry (validated). The logo URL is
/// the service's to set: an uploaded logo is kept across updates. An entry with a test plugin
/// must name one already uploaded and bring fixtures, and its plugin must pass the conformance
/// suite with them (run again only when the plugin, its config, the egress rules, the
/// credential form or the fixtures change); otherwise nothing is saved.
pub async fn put_provider(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let mut spec: ProviderSpec = read_json(req, ENTRY_MAX_BYTES).await?;
    let existing = store::provider(app.home(), key.as_str()).await?;
    if let Some(row) = &existing {
        if row.logo_type.is_some() {
            spec.logo = entry_of(row)?.spec().logo.clone();
        }
    }
    let created = existing.is_none();
    let entry = public_entry(app, CatalogEntry::new(key.clone(), spec)?)?;
    entry.check_upload()?;
    let (entry, fixtures) = entry.without_fixtures();
    let fixtures_json = fixtures
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut passed = None;
    if let (Some(test), Some(fixtures)) = (&entry.spec().test_plugin, &fixtures) {
        if !store::plugin_exists(app.home(), &test.digest).await? {
            return Err(ApiError::from(byok_core::api::Problem::from(
                byok_core::catalog::ValidationErrors(vec![byok_core::catalog::FieldError {
                    field: "test_plugin.digest".into(),
                    rule: byok_core::catalog::Rule::Required,
                    message: format!(
                        "no plugin {} has been uploaded: upload the component first (PUT /v1/admin/plugins; `byok provider push DIR --plugin FILE` does both)",
                        test.digest
                    ),
                }]),
            )));
        }
        let unchanged = match &existing {
            Some(row) => {
                let before = entry_of(row)?;
                let stored = store::provider_fixtures(app.home(), key.as_str()).await?;
                same_test(before.spec(), entry.spec()) && stored == fixtures_json
            }
            None => false,
        };
        if !unchanged {
            let report = connection::conformance(app, &entry, fixtures)
                .await
                .map_err(|e| problem(ProblemKind::Internal, e))?;
            if !report.passed() {
                return Err(conformance_failed(&key, report));
            }
            passed = Some(report.cases.len());
        }
    }
    store::store_provider(
        app.home(),
        &app.shards()[1..],
        &entry,
        fixtures_json.as_deref(),
        &rfc3339(now_millis()),
    )
    .await?;
    catalog::invalidate(app).await;
    resolve::forget_provider(&key);
    let mut outcome = if created { "created" } else { "updated" }.to_owned();
    if let (Some(test), Some(n)) = (&entry.spec().test_plugin, passed) {
        outcome = format!(
            "{outcome}; plugin {} passed {n} conformance cases",
            test.digest
        );
    }
    audit::record(app, who, Scope::Platform, &key, "put-provider", &outcome).await?;
    let resp = json(if created { 201 } else { 200 }, &entry)?;
    if let Some(n) = passed {
        resp.headers()
            .set("x-byok-conformance", &format!("{n} of {n} cases passed"))?;
    }
    Ok(resp)
}

/// Whether two specs run the same test: plugin, config, egress rules and credential form.
fn same_test(a: &ProviderSpec, b: &ProviderSpec) -> bool {
    a.test_plugin == b.test_plugin
        && a.egress == b.egress
        && a.credential_fields == b.credential_fields
        && a.credential_label == b.credential_label
}

/// The `conformance-failed` problem: which cases failed and why, every case in `cases`.
fn conformance_failed(
    key: &byok_core::ids::ProviderKey,
    report: byok_core::conformance::SuiteReport,
) -> ApiError {
    let mut p = byok_core::api::Problem::new(
        ProblemKind::ConformanceFailed,
        format!(
            "The test plugin of '{key}' did not pass the conformance suite, so nothing was saved: {}. Fix the plugin, its config or the fixtures (run `byok plugin test` on the entry folder to see every case).",
            report.summary()
        ),
    );
    p.extra.cases = Some(report.cases);
    ApiError::from(p)
}

/// `DELETE /v1/admin/providers/{key}`: retire; installs keep their keys.
pub async fn retire(app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    if !store::retire_provider(app.home(), key.as_str(), &rfc3339(now_millis())).await? {
        return Err(problem(
            ProblemKind::NotFound,
            format!("There is no active provider '{key}'."),
        ));
    }
    catalog::invalidate(app).await;
    resolve::forget_provider(&key);
    audit::record(
        app,
        who,
        Scope::Platform,
        &key,
        "retire-provider",
        "retired",
    )
    .await?;
    Ok(empty(204)?)
}

/// Checks an uploaded logo: a PNG by its signature, or an SVG document (served sandboxed, so
/// a script inside it cannot run).
fn logo_type(content_type: &str, bytes: &[u8]) -> Result<&'static str, ApiError> {
    match content_type.split(';').next().unwrap_or("").trim() {
        "image/png" if bytes.starts_with(b"\x89PNG\r\n\x1a\n") => Ok("image/png"),
        "image/png" => Err(problem(
            ProblemKind::ValidationFailed,
            "The body is not a PNG image.",
        )),
        "image/svg+xml" => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                problem(ProblemKind::ValidationFailed, "The SVG is not UTF-8 text.")
            })?;
            if text.contains("<svg") {
                Ok("image/svg+xml")
            } else {
                Err(problem(
                    ProblemKind::ValidationFailed,
                    "The body is not an SVG document.",
                ))
            }
        }
        _ => Err(problem(
            ProblemKind::UnsupportedMediaType,
            "Upload the logo as image/svg+xml or image/png.",
        )),
    }
}

/// `PUT /v1/admin/providers/{key}/logo`.
pub async fn put_logo(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    let bytes = read_body(req, LOGO_MAX_BYTES).await?;
    let kind = logo_type(&content_type, &bytes)?;
    let (_, stored) = stored_entry(app, &key).await?;
    let version: String = Sha256::digest(&bytes)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entry = stored.with_logo(format!("/v1/providers/{key}/logo?v={version}"))?;
    app.kv
        .put_bytes(&format!("logo:{key}"), &bytes)?
        .execute()
        .await?;
    let spec_json =
        serde_json::to_string(entry.spec()).map_err(|e| worker::Error::RustError(e.to_string()))?;
    store::set_logo(
        app.home(),
        key.as_str(),
        kind,
        &spec_json,
        &rfc3339(now_millis()),
    )
    .await?;
    catalog::invalidate(app).await;
    audit::record(app, who, Scope::Platform, &key, "put-logo", kind).await?;
    Ok(json(200, &entry)?)
}

pub const PLUGIN_MAX_BYTES: usize = byok_plugin_host::load::MAX_COMPONENT_BYTES;

/// Validates, compiles and stores a component by digest (bytes and authenticated artifact in
/// KV, a row in `plugins`). Idempotent.
async fn store_component(app: &App, bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let engine = connection::engine().map_err(|e| problem(ProblemKind::Internal, e))?;
    let started = now_millis();
    let (plugin, artifact) = engine
        .precompile(&connection::artifact_key(app), bytes)
        .map_err(|e| {
            problem(
                ProblemKind::ValidationFailed,
                format!("The plugin was refused: {e}."),
            )
        })?;
    let compile_ms = now_millis().saturating_sub(started);
    let digest = plugin.digest_hex();
    app.kv
        .put_bytes(&format!("plugin:{digest}"), bytes)?
        .execute()
        .await?;
    app.kv
        .put_bytes(
            &connection::artifact_kv_key(app, &engine, &digest),
            &artifact,
        )?
        .execute()
        .await?;
    store::insert_plugin(
        app.home(),
        &digest,
        bytes.len(),
        plugin.version().as_str(),
        &rfc3339(now_millis()),
    )
    .await?;
    Ok(
        serde_json::json!({"digest": digest, "size": bytes.len(), "contract": plugin.version().as_str(), "compile_ms": compile_ms}),
    )
}

async fn wasm_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    if !content_type.starts_with("application/wasm") {
        return Err(problem(
            ProblemKind::UnsupportedMediaType,
            "Upload the plugin as application/wasm (a component built with `byok plugin build`).",
        ));
    }
    read_body(req, PLUGIN_MAX_BYTES).await
}

/// `PUT /v1/admin/plugins`: upload a test plugin (`application/wasm`). It is validated,
/// compiled and stored under its SHA-256 digest; an entry uses it by naming that digest (and
/// passing the conformance suite with it).
pub async fn put_component(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let bytes = wasm_body(req).await?;
    let answer = store_component(app, &bytes).await?;
    Ok(json(200, &answer)?)
}

/// `PUT /v1/admin/providers/{key}/plugin`: upload the test plugin the entry names. A file with
/// another digest is refused (409): to change plugins, upload the file (`PUT
/// /v1/admin/plugins`) and put the entry with its digest, which runs the conformance suite.
/// For an entry that names no plugin yet, the file becomes its plugin if it passes the suite
/// with the entry's fixtures.
pub async fn put_plugin(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let bytes = wasm_body(req).await?;
    let (_, stored) = stored_entry(app, &key).await?;
    // Validated (and stored by digest, like any upload) before anything else is said of it.
    let mut answer = store_component(app, &bytes).await?;
    let digest = crate::util::sha256_hex(&bytes);
    match &stored.spec().test_plugin {
        Some(test) if test.digest != digest => {
            return Err(problem(
                ProblemKind::Conflict,
                format!(
                    "The entry '{key}' names plugin {}, but this file is {digest}; the entry was left as it was. The file is stored: to use it, put the entry with test_plugin.digest set to {digest}, and the conformance suite runs then.",
                    test.digest
                ),
            ))
        }
        Some(_) => {
            answer["entry"] = serde_json::to_value(public_entry(app, stored)?)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            return Ok(json(200, &answer)?);
        }
        None => {}
    }
    let Some(fixtures) = store::provider_fixtures(app.home(), key.as_str())
        .await?
        .and_then(|f| serde_json::from_str::<byok_core::conformance::Fixtures>(&f).ok())
    else {
        return Err(problem(
            ProblemKind::ValidationFailed,
            format!("The entry '{key}' has no fixtures, so its plugin cannot be checked: put the entry with test_plugin (this file's digest, {digest}) and fixtures instead."),
        ));
    };
    let mut spec = stored.into_spec();
    spec.test_plugin = Some(byok_core::catalog::TestPlugin {
        digest: digest.clone(),
        config: serde_json::json!({}),
    });
    let entry = public_entry(app, CatalogEntry::new(key.clone(), spec)?)?;
    let report = connection::conformance(app, &entry, &fixtures)
        .await
        .map_err(|e| problem(ProblemKind::Internal, e))?;
    if !report.passed() {
        return Err(conformance_failed(&key, report));
    }
    let fixtures_json =
        serde_json::to_string(&fixtures).map_err(|e| worker::Error::RustError(e.to_string()))?;
    store::store_provider(
        app.home(),
        &app.shards()[1..],
        &entry,
        Some(&fixtures_json),
        &rfc3339(now_millis()),
    )
    .await?;
    catalog::invalidate(app).await;
    audit::record(app, who, Scope::Platform, &key, "put-plugin", &digest).await?;
    answer["entry"] =
        serde_json::to_value(&entry).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(json(200, &answer)?)
}

/// `PUT /v1/admin/platform-keys/{key}`: the platform's fallback key for a provider.
pub async fn platform_key(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let body: CredentialRequest = read_json(req, 32 * 1024).await?;
    if body.expires_at.is_some() {
        return Err(problem(
            ProblemKind::ValidationFailed,
            "expires_at applies to tenants' keys; a platform key carries none.",
        ));
    }
    let (_, entry) = active_entry(app, &key).await?;
    let secret = match FormValue::parse(body.key, None)? {
        FormValue::New(s) => s,
        FormValue::Unchanged => {
            return Err(problem(
                ProblemKind::ValidationFailed,
                "Paste the full key.",
            ))
        }
    };
    let (credential, warnings) = Credential::check(&entry, secret, body.fields)?;
    let sealed = credentials::seal(&app.keyring, Owner::Platform, &key, &credential)?;
    store::set_platform_key(
        app.home(),
        key.as_str(),
        &sealed.secret,
        &sealed.fields_json(),
        &sealed.mask_json(),
        &rfc3339(now_millis()),
    )
    .await?;
    resolve::forget_provider(&key);
    audit::record(app, who, Scope::Platform, &key, "set-platform-key", "saved").await?;
    Ok(json(
        200,
        &serde_json::json!({"provider": key, "mask": sealed.mask, "fallback_allowed": entry.spec().platform_fallback, "format_warnings": warnings}),
    )?)
}

/// Outside development, an entry may not send its plugin to loopback, private or link-local
/// addresses (the local fakes need them under DEV_MODE).
fn public_entry(app: &App, entry: CatalogEntry) -> Result<CatalogEntry, ApiError> {
    match entry.private_egress() {
        Some(errors) if !app.dev_mode => Err(ApiError::from(byok_core::api::Problem::from(errors))),
        _ => Ok(entry),
    }
}
