//! Admin commands: keyrings, dev tokens, pushing catalog entries, platform keys.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use byok_core::auth::Role;
use byok_core::ids::ProviderKey;
use byok_core::keyring::{KeyId, Keyring, KeyringDocument};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// A fresh `BYOK_KEYRING` document (one primary key, one fingerprint key).
pub fn keyring_new(id: &str) -> Result<String> {
    let doc = KeyringDocument::generate(KeyId::parse(id)?, &mut rand_core::OsRng)?;
    Ok(doc.to_json().to_string())
}

/// Reads a keyring document, refusing one that does not load.
fn keyring_read(json: &str) -> Result<KeyringDocument> {
    let doc: KeyringDocument = serde_json::from_str(json.trim()).map_err(|e| {
        // serde's message may quote input (key material): keep its category and position.
        anyhow::anyhow!(
            "not a keyring document ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    Keyring::from_document(&doc)?;
    Ok(doc)
}

/// The document with a fresh primary key `id`; the old keys stay, to open what they sealed.
pub fn keyring_rotate(json: &str, id: &str) -> Result<String> {
    let mut doc = keyring_read(json)?;
    doc.rotate(KeyId::parse(id)?, &mut rand_core::OsRng)?;
    Ok(doc.to_json().to_string())
}

/// The document without key `id`, once nothing is sealed under it (`GET /v1/admin/keyring`
/// says). The primary key cannot be dropped.
pub fn keyring_drop(json: &str, id: &str) -> Result<String> {
    let mut doc = keyring_read(json)?;
    let id = KeyId::parse(id)?;
    if doc.primary == id {
        bail!("'{id}' is the primary key: rotate to a new key before dropping it");
    }
    if doc.keys.remove(&id).is_none() {
        bail!("the keyring has no key '{id}'");
    }
    Ok(doc.to_json().to_string())
}

/// The key ids of a document and which is primary (no key material).
pub fn keyring_ids(json: &str) -> Result<String> {
    let doc = keyring_read(json)?;
    Ok(doc
        .keys
        .keys()
        .map(|id| {
            if *id == doc.primary {
                format!("{id} (primary)")
            } else {
                id.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Where a token's signing secret comes from: the environment variable named like the Worker
/// secret (`AUTH_SECRET`, `SERVICE_AUTH_SECRET`), else the `.dev.vars` file of a local run.
pub fn signing_secret(role: Role, dev_vars: &Path) -> Result<String> {
    let name = role.signer().setting();
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => dev_var(dev_vars, name).with_context(|| {
            format!(
                "{name} is neither in the environment nor in {}",
                dev_vars.display()
            )
        }),
    }
}

/// A value from a `.dev.vars` file (KEY=VALUE lines; values may be double-quoted).
pub fn dev_var(file: &Path, name: &str) -> Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == name {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                return Ok(v.replace("\\\"", "\"").replace("\\\\", "\\"));
            }
        }
    }
    bail!("{name} is not set in {}", file.display())
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    tenant: &'a str,
    role: Role,
    iat: u64,
    exp: u64,
    iss: &'a str,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    providers: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenants: Option<&'a [String]>,
}

/// The optional scope of a service token (`providers`, `tenants` claims).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TokenScope {
    /// Service tokens: the only providers the token may resolve (comma-separated keys).
    #[arg(long, value_delimiter = ',')]
    pub providers: Option<Vec<String>>,
    /// Service tokens: the only tenants the token may resolve for (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub tenants: Option<Vec<String>>,
}

/// Who a token is for: the service's configured `AUTH_ISSUER` and `AUTH_AUDIENCE`.
#[derive(Debug, Clone, clap::Args)]
pub struct Audience {
    /// The issuer the service expects (its AUTH_ISSUER var).
    #[arg(long, env = "BYOK_ISSUER", default_value = "byok-dev")]
    pub issuer: String,
    /// The audience the service expects (its AUTH_AUDIENCE var).
    #[arg(long, env = "BYOK_AUDIENCE", default_value = "byok")]
    pub audience: String,
}

/// Signs an HS256 token for `role` with `secret` (the secret of that role's kind).
pub fn token(
    secret: &str,
    sub: &str,
    tenant: &str,
    role: Role,
    ttl_seconds: u64,
    to: &Audience,
    scope: &TokenScope,
) -> Result<String> {
    if role != Role::Service && (scope.providers.is_some() || scope.tenants.is_some()) {
        bail!("--providers and --tenants limit service tokens only (--role service)");
    }
    // The service refuses a token whose scope it cannot read: check before signing one.
    byok_core::scope::Scope::from_claims(scope.providers.as_deref(), scope.tenants.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if secret.len() < byok_core::auth::MIN_SECRET_BYTES {
        bail!(
            "{} must be at least {} bytes",
            role.signer().setting(),
            byok_core::auth::MIN_SECRET_BYTES
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = Claims {
        sub,
        tenant,
        role,
        iat: now,
        exp: now + ttl_seconds,
        iss: &to.issuer,
        aud: &to.audience,
        providers: scope.providers.as_deref(),
        tenants: scope.tenants.as_deref(),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The admin side of the service's HTTP API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: String) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().build()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn check(resp: reqwest::Response, what: &str) -> Result<serde_json::Value> {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            let detail = body
                .get("detail")
                .and_then(|d| d.as_str())
                .unwrap_or("no detail");
            bail!("{what}: HTTP {status}: {detail}");
        }
        Ok(body)
    }

    /// Pushes an entry folder: its test plugin first (`PUT /v1/admin/plugins`, stored by
    /// digest), then the entry with its fixtures (the service runs the conformance suite and
    /// refuses the entry if a case fails), then its logo (`logo.svg`/`logo.png`, or `logo`).
    pub async fn push_provider(
        &self,
        entry: &crate::kit::EntryDir,
        logo: Option<PathBuf>,
        plugin: Option<&Path>,
    ) -> Result<()> {
        let key = entry.entry.key().clone();
        if let Some(plugin) = plugin {
            let resp = self
                .http
                .put(format!("{}/v1/admin/plugins", self.base))
                .bearer_auth(&self.token)
                .header("content-type", "application/wasm")
                .body(
                    std::fs::read(plugin)
                        .with_context(|| format!("reading {}", plugin.display()))?,
                )
                .send()
                .await?;
            Self::check(resp, &format!("uploading {}", plugin.display())).await?;
        }
        let resp = self
            .http
            .put(format!("{}/v1/admin/providers/{key}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(entry.body()?)
            .send()
            .await?;
        let conformance = resp
            .headers()
            .get("x-byok-conformance")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self::check(resp, &format!("pushing {key}")).await?;
        let logo = logo.or_else(|| {
            ["logo.svg", "logo.png"]
                .iter()
                .map(|f| entry.dir.join(f))
                .find(|p| p.exists())
        });
        if let Some(logo) = logo {
            let kind = if logo.extension().is_some_and(|e| e == "png") {
                "image/png"
            } else {
                "image/svg+xml"
            };
            let resp = self
                .http
                .put(format!("{}/v1/admin/providers/{key}/logo", self.base))
                .bearer_auth(&self.token)
                .header("content-type", kind)
                .body(std::fs::read(&logo)?)
                .send()
                .await?;
            Self::check(resp, &format!("uploading the logo of {key}")).await?;
        }
        match (entry.digest(), conformance) {
            (Some(digest), Some(passed)) => {
                println!("pushed {key} (plugin {digest}; conformance: {passed})")
            }
            (Some(digest), None) => println!(
                "pushed {key} (plugin {digest}; its test was unchanged, so the suite did not run again)"
            ),
            (None, _) => println!("pushed {key} (no test plugin: keys are saved unverified)"),
        }
        Ok(())
    }

    /// `DELETE /v1/admin/providers/{key}`.
    pub async fn retire(&self, key: &str) -> Result<()> {
        let key = ProviderKey::parse(key)?;
        let resp = self
            .http
            .delete(format!("{}/v1/admin/providers/{key}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            bail!(
                "retiring {key}: HTTP {status}: {}",
                body["detail"].as_str().unwrap_or("no detail")
            );
        }
        Ok(())
    }

    pub async fn list_providers(&self) -> Result<serde_json::Value> {
        let resp = self
            .http
            .get(format!("{}/v1/providers", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::check(resp, "listing providers").await
    }

    /// `GET /v1/admin/webhooks?delivery=`.
    pub async fn webhooks(&self, delivery: &str) -> Result<serde_json::Value> {
        let resp = self
            .http
            .get(format!("{}/v1/admin/webhooks", self.base))
            .query(&[("delivery", delivery)])
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::check(resp, "listing webhooks").await
    }

    /// `POST /v1/admin/webhooks/{id}/redeliver`.
    pub async fn redeliver(&self, id: &str) -> Result<serde_json::Value> {
        // The id as one path segment, encoded, whatever was typed.
        let mut url = reqwest::Url::parse(&self.base)?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot be a base URL", self.base))?
            .pop_if_empty()
            .extend(["v1", "admin", "webhooks", id, "redeliver"]);
        let resp = self.http.post(url).bearer_auth(&self.token).send().await?;
        Self::check(resp, &format!("redelivering {id}")).await
    }

    /// `GET /v1/admin/moves`: the databases, and the list a move under way goes to.
    pub async fn moves(&self) -> Result<serde_json::Value> {
        let resp = self
            .http
            .get(format!("{}/v1/admin/moves", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::check(resp, "reading the databases").await
    }

    /// `POST /v1/admin/moves/{step}` (copy or prune) over one database, from `after`.
    pub async fn move_step(
        &self,
        step: &str,
        database: &str,
        after: Option<&str>,
    ) -> Result<serde_json::Value> {
        let resp = self
            .http
            .post(format!("{}/v1/admin/moves/{step}", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "database": database, "after": after }))
            .send()
            .await?;
        Self::check(resp, &format!("{step} of {database}")).await
    }

    pub async fn set_platform_key(&self, provider: &str, key: String) -> Result<serde_json::Value> {
        let resp = self
            .http
            .put(format!("{}/v1/admin/platform-keys/{provider}", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "key": key }))
            .send()
            .await?;
        Self::check(resp, &format!("setting the platform key of {provider}")).await
    }
}

/// The secret for `platform-key set`: from an environment variable, or standard input.
pub fn read_secret(env: Option<&str>) -> Result<String> {
    match env {
        Some(var) => {
            std::env::var(var).with_context(|| format!("environment variable {var} is not set"))
        }
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            let s = s.trim().to_owned();
            if s.is_empty() {
                bail!("no key on standard input");
            }
            Ok(s)
        }
    }
}

#[cfg(test)]
mod keyring_tests {
    use super::*;

    #[test]
    fn rotate_then_drop_keeps_what_is_needed() {
        let a = keyring_new("a").expect("new");
        let ab = keyring_rotate(&a, "b").expect("rotate");
        assert_eq!(keyring_ids(&ab).expect("ids"), "a\nb (primary)");
        assert!(keyring_rotate(&ab, "a").is_err(), "an id is never reused");
        let err = keyring_drop(&ab, "b").err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("primary")),
            "{err:?}"
        );
        assert!(keyring_drop(&ab, "c").is_err(), "no such key");
        let b = keyring_drop(&ab, "a").expect("drop");
        assert_eq!(keyring_ids(&b).expect("ids"), "b (primary)");
        // The old document's keys are the new one's: what a sealed under b still opens.
        let old: serde_json::Value = serde_json::from_str(&ab).expect("json");
        let new: serde_json::Value = serde_json::from_str(&b).expect("json");
        assert_eq!(old["keys"]["b"], new["keys"]["b"]);
        assert_eq!(old["fingerprint_key"], new["fingerprint_key"], "masks stay");
    }

    #[test]
    fn a_broken_document_is_refused_without_quoting_it() {
        let secretish = "c2VjcmV0LWtleS1tYXRlcmlhbC0wMDAwMDAwMDAwMDA=";
        let err = keyring_rotate(&format!("{{\"primary\": \"{secretish}\""), "b")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a keyring document"), "{err}");
        assert!(!err.contains(secretish), "{err}");
    }
}
