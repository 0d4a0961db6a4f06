//! The catalog: browsing entries (with ETag) and their logos.

use byok_core::api::{ProblemKind, ProviderList};
use byok_core::catalog::{CatalogEntry, ProviderSpec};
use byok_core::connect::{negotiate, Lang};
use byok_core::ids::ProviderKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::{Request, Response};

use crate::auth::Principal;
use crate::http::{json, problem, ApiError, ApiResult};
use crate::store::{self, ProviderRow};
use crate::util::Counted;
use crate::App;

const CACHE_KEY: &str = "catalog:v1";

/// Parses a provider key from a path segment (404 when it cannot be one).
pub fn key_from_path(segment: &str) -> Result<ProviderKey, ApiError> {
    ProviderKey::parse(segment).map_err(|_| {
        problem(
            ProblemKind::NotFound,
            format!(
                "There is no provider '{}' in the catalog.",
                segment.escape_default()
            ),
        )
    })
}

/// A stored row back to its validated entry. Rows are validated on the way in, so a failure
/// here means the database was edited by hand.
pub fn entry_of(row: &ProviderRow) -> Result<CatalogEntry, ApiError> {
    let key = ProviderKey::parse(&row.key)
        .map_err(|_| problem(ProblemKind::Internal, "A stored catalog key is invalid."))?;
    let spec: ProviderSpec = serde_json::from_str(&row.spec).map_err(|_| {
        problem(
            ProblemKind::Internal,
            "A stored catalog entry is unreadable.",
        )
    })?;
    let words = match row.translations.as_deref() {
        None => Default::default(),
        Some(text) => serde_json::from_str(text).map_err(|_| {
            problem(
                ProblemKind::Internal,
                "A stored catalog entry's translations are unreadable.",
            )
        })?,
    };
    CatalogEntry::new(key, spec)
        .map(|entry| entry.with_translations(words))
        .map_err(|e| {
            problem(
                ProblemKind::Internal,
                format!("A stored catalog entry is invalid: {e}"),
            )
        })
}

/// The language a caller reads the catalog in: the session's, else `Accept-Language`.
pub fn reader_lang(req: &Request, who: &Principal) -> Result<Lang, ApiError> {
    let accept = req.headers().get("accept-language")?;
    Ok(negotiate(
        who.session.as_ref().and_then(|s| s.lang),
        accept.as_deref(),
    ))
}

/// A stored entry, active or retired (installs keep their keys), or 404.
pub async fn stored_entry(
    app: &App,
    key: &ProviderKey,
) -> Result<(ProviderRow, CatalogEntry), ApiError> {
    match store::provider(app.home(), key.as_str()).await? {
        Some(row) => {
            let entry = entry_of(&row)?;
            Ok((row, entry))
        }
        None => Err(problem(
            ProblemKind::NotFound,
            format!("There is no provider '{key}' in the catalog."),
        )),
    }
}

/// An active entry, or 404.
pub async fn active_entry(
    app: &App,
    key: &ProviderKey,
) -> Result<(ProviderRow, CatalogEntry), ApiError> {
    match store::provider(app.home(), key.as_str()).await? {
        Some(row) if row.active == 1 => {
            let entry = entry_of(&row)?;
            Ok((row, entry))
        }
        _ => Err(problem(
            ProblemKind::NotFound,
            format!("There is no provider '{key}' in the catalog."),
        )),
    }
}

#[derive(Serialize, Deserialize)]
struct Cached {
    etag: String,
    body: String,
}

fn cache_key(lang: Lang) -> String {
    format!("{CACHE_KEY}:{}", lang.as_str())
}

async fn catalog_body(app: &App, lang: Lang) -> Result<Cached, ApiError> {
    if let Some(cached) = app
        .kv
        .get(&cache_key(lang))
        .json::<Cached>()
        .await
        .counted()
        .ok()
        .flatten()
    {
        return Ok(cached);
    }
    let rows = store::active_providers(app.home()).await?;
    let providers = rows
        .iter()
        .map(|row| entry_of(row).map(|e| e.localized(lang)))
        .collect::<Result<Vec<_>, _>>()?;
    let body = serde_json::to_string(&ProviderList { providers })
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cached = Cached { etag, body };
    // A failed cache write only costs the next reader a D1 query.
    if let Ok(put) = app.kv.put(&cache_key(lang), &cached) {
        let _ = put.execute().await.counted();
    }
    Ok(cached)
}

/// Drops the cached catalog after an admin change.
pub async fn invalidate(app: &App) {
    for lang in Lang::ALL {
        let _ = app.kv.delete(&cache_key(lang)).await.counted();
    }
    // The one body the previous release caches: gone too, so a rollback reads a fresh one.
    let _ = app.kv.delete(CACHE_KEY).await.counted();
}

/// `GET /v1/providers`: the active catalog, revalidated with its ETag.
pub async fn list(req: &Request, app: &App, who: &Principal) -> ApiResult {
    let cached = catalog_body(app, reader_lang(req, who)?).await?;
    let matches = req.headers().get("if-none-match")?.is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim() == cached.etag || t.trim() == "*")
    });
    let resp = if matches {
        Response::empty()?.with_status(304)
    } else {
        let r = Response::ok(cached.body)?;
        r.headers().set("content-type", "application/json")?;
        r
    };
    resp.headers().set("etag", &cached.etag)?;
    resp.headers().set("cache-control", "private, no-cache")?;
    resp.headers().set("vary", "accept-language")?;
    resp.headers().set("x-content-type-options", "nosniff")?;
    Ok(resp)
}

/// `GET /v1/providers/{key}`: in the reader's language.
pub async fn get(req: &Request, app: &App, who: &Principal, key: &str) -> ApiResult {
    let key = key_from_path(key)?;
    let (_, entry) = active_entry(app, &key).await?;
    Ok(json(200, &entry.localized(reader_lang(req, who)?))?)
}

/// `GET /v1/providers/{key}/logo`: public, long-cached (the entry's logo URL changes with
/// the image), served so that no script in an SVG can run.
pub async fn logo(app: &App, key: &str) -> ApiResult {
    let key = key_from_path(key)?;
    let row = store::provider(app.home(), key.as_str()).await?;
    let (Some(row), Some(bytes)) = (
        row,
        app.kv
            .get(&format!("logo:{key}"))
            .bytes()
            .await
            .counted()
            .ok()
            .flatten(),
    ) else {
        return Err(problem(
            ProblemKind::NotFound,
            format!("Provider '{key}' has no logo."),
        ));
    };
    let resp = Response::from_bytes(bytes)?;
    let h = resp.headers();
    h.set(
        "content-type",
        row.logo_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    )?;
    h.set("cache-control", "public, max-age=31536000, immutable")?;
    h.set(
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    )?;
    h.set("x-content-type-options", "nosniff")?;
    Ok(resp)
}
