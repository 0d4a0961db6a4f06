//! Admin commands: keyrings, dev tokens, pushing catalog entries, platform keys.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use byok_core::catalog::CatalogEntry;
use byok_core::ids::ProviderKey;
use byok_core::keyring::{KeyId, KeyringDocument};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// A fresh `BYOK_KEYRING` document (one primary key, one fingerprint key).
pub fn keyring_new(id: &str) -> Result<String> {
    let doc = KeyringDocument::generate(KeyId::parse(id)?, &mut rand_core::OsRng)?;
    Ok(doc.to_json().to_string())
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
    role: &'a str,
    exp: u64,
}

/// Signs an HS256 token with `AUTH_SECRET`.
pub fn token(
    secret: &str,
    sub: &str,
    tenant: &str,
    role: &str,
    ttl_seconds: u64,
) -> Result<String> {
    if !["member", "owner", "platform-admin", "service"].contains(&role) {
        bail!("role must be member, owner, platform-admin or service");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = Claims {
        sub,
        tenant,
        role,
        exp: now + ttl_seconds,
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

    /// `PUT` an entry folder (`entry.json`, and `logo.svg`/`logo.png` if present), then its
    /// test plugin if one is given.
    pub async fn push_provider(
        &self,
        dir: &Path,
        logo: Option<PathBuf>,
        plugin: Option<PathBuf>,
    ) -> Result<()> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("the entry folder has no name")?;
        let key = ProviderKey::parse(name)?;
        let json = std::fs::read_to_string(dir.join("entry.json"))
            .with_context(|| format!("reading {}/entry.json", dir.display()))?;
        CatalogEntry::from_json(key.clone(), &json)
            .with_context(|| format!("{}", dir.display()))?;
        let resp = self
            .http
            .put(format!("{}/v1/admin/providers/{key}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(json)
            .send()
            .await?;
        Self::check(resp, &format!("pushing {key}")).await?;
        let logo = logo.or_else(|| {
            ["logo.svg", "logo.png"]
                .iter()
                .map(|f| dir.join(f))
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
        if let Some(plugin) = plugin {
            let resp = self
                .http
                .put(format!("{}/v1/admin/providers/{key}/plugin", self.base))
                .bearer_auth(&self.token)
                .header("content-type", "application/wasm")
                .body(
                    std::fs::read(&plugin)
                        .with_context(|| format!("reading {}", plugin.display()))?,
                )
                .send()
                .await?;
            let answer = Self::check(resp, &format!("uploading the plugin of {key}")).await?;
            println!(
                "pushed {key} (plugin {})",
                answer["digest"].as_str().unwrap_or("?")
            );
        } else {
            println!("pushed {key}");
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
