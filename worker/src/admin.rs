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

/// `PUT /v1/admin/providers/{key}`: create or update an entry (validated). The logo URL is
/// the service's to set: an uploaded logo is kept across updates.
pub async fn put_provider(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let mut spec: ProviderSpec = read_json(req, 64 * 1024).await?;
    let existing = store::provider(&app.db, key.as_str()).await?;
    if let Some(row) = &existing {
        if row.logo_type.is_some() {
            spec.logo = entry_of(row)?.spec().logo.clone();
        }
    }
    let created = existing.is_none();
    let entry = public_entry(app, CatalogEntry::new(key.clone(), spec)?)?;
    let spec_json =
        serde_json::to_string(entry.spec()).map_err(|e| worker::Error::RustError(e.to_string()))?;
    store::upsert_provider(&app.db, key.as_str(), &spec_json, &rfc3339(now_millis())).await?;
    catalog::invalidate(app).await;
    resolve::forget_provider(&key);
    audit::record(
        app,
        who,
        Scope::Platform,
        &key,
        "put-provider",
        if created { "created" } else { "updated" },
    )
    .await?;
    Ok(json(if created { 201 } else { 200 }, &entry)?)
}

/// `DELETE /v1/admin/providers/{key}`: retire; installs keep their keys.
pub async fn retire(app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    if !store::retire_provider(&app.db, key.as_str(), &rfc3339(now_millis())).await? {
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
        &app.db,
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

/// `PUT /v1/admin/providers/{key}/plugin`: upload the entry's test plugin (`application/wasm`).
/// It is validated and compiled here, stored by digest with its authenticated artifact, and
/// the entry's `test_plugin.digest` is set (its config stays).
pub async fn put_plugin(req: &mut Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let key = key_from_path(key)?;
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    if !content_type.starts_with("application/wasm") {
        return Err(problem(
            ProblemKind::UnsupportedMediaType,
            "Upload the plugin as application/wasm (a component built with `byok plugin build`).",
        ));
    }
    let bytes = read_body(req, PLUGIN_MAX_BYTES).await?;
    let (_, stored) = stored_entry(app, &key).await?;
    let engine = connection::engine().map_err(|e| problem(ProblemKind::Internal, e))?;
    let (plugin, artifact) = engine
        .precompile(&connection::artifact_key(app), &bytes)
        .map_err(|e| {
            problem(
                ProblemKind::ValidationFailed,
                format!("The plugin was refused: {e}."),
            )
        })?;
    let digest = plugin.digest_hex();
    let mut spec = stored.into_spec();
    let config = spec
        .test_plugin
        .take()
        .map(|t| t.config)
        .unwrap_or_else(|| serde_json::json!({}));
    spec.test_plugin = Some(byok_core::catalog::TestPlugin {
        digest: digest.clone(),
        config,
    });
    let entry = public_entry(app, CatalogEntry::new(key.clone(), spec)?)?;
    app.kv
        .put_bytes(&format!("plugin:{digest}"), &bytes)?
        .execute()
        .await?;
    app.kv
        .put_bytes(
            &connection::artifact_kv_key(app, &engine, &digest),
            &artifact,
        )?
        .execute()
        .await?;
    let now = rfc3339(now_millis());
    store::insert_plugin(
        &app.db,
        &digest,
        bytes.len(),
        plugin.version().as_str(),
        &now,
    )
    .await?;
    let spec_json =
        serde_json::to_string(entry.spec()).map_err(|e| worker::Error::RustError(e.to_string()))?;
    store::set_spec(&app.db, key.as_str(), &spec_json, &now).await?;
    catalog::invalidate(app).await;
    audit::record(app, who, Scope::Platform, &key, "put-plugin", &digest).await?;
    Ok(json(
        200,
        &serde_json::json!({"digest": digest, "size": bytes.len(), "contract": plugin.version().as_str(), "entry": entry}),
    )?)
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
        &app.db,
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
