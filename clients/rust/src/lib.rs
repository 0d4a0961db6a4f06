//! `byok-client`: what a Rust AI function needs from the BYOK service.
//!
//! ```ignore
//! // In a workers-rs function (feature `worker`), with a service binding named BYOK:
//! let byok = byok_client::Client::new(env.service("BYOK")?, env.secret("BYOK_SERVICE_TOKEN")?.to_string());
//! let cfg = byok.get_ai_config("acme", "anthropic").await?;
//! let key = cfg.api_key.expose_secret(); // call the provider with it
//! ```
//!
//! - [`Client::get_ai_config`]: the key for a tenant and provider, the tenant's own or the
//!   platform's ([`AiConfig::source`]), cached for as long as the service's
//!   `Cache-Control: private, max-age=N` allows (in a process-wide [`Cache`] by default, so a
//!   client made per request still hits it).
//! - [`Client::report_rejection`]: tell the service what the provider answered; a 401/403 on
//!   a tenant's key makes the service re-test it.
//!
//! The transport is a [`Transport`]: a Workers service binding (`worker::Fetcher`, feature
//! `worker`), any HTTPS endpoint through reqwest ([`Https`], feature `reqwest`), or your own.
//! Keys are [`SecretString`]s: they never print, and no error carries one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// An HTTP answer, as much of it as the client reads.
#[derive(Debug, Clone, Default)]
pub struct RawResponse {
    pub status: u16,
    pub cache_control: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// Sends `POST {path}` with a bearer token and a JSON body to the BYOK service.
#[allow(async_fn_in_trait)] // single-threaded in Workers; native transports are Send anyway
pub trait Transport {
    async fn post(&self, path: &str, token: &str, body: String) -> Result<RawResponse, String>;
}

/// Whose key a config is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Tenant,
    Platform,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tenant => "tenant",
            Source::Platform => "platform",
        }
    }
}

/// The answer to `getAiConfig`. `Debug` shows no key or field value.
#[derive(Debug, Clone)]
pub struct AiConfig {
    pub provider: String,
    pub api_key: SecretString,
    /// The credential's other fields (Twilio's Account SID...).
    pub fields: BTreeMap<String, SecretString>,
    pub source: Source,
    /// The tenant key's status (`connected`, `invalid`, `unverified`); `None` for the
    /// platform key. A tenant's key is returned even when invalid.
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct ResolveAnswer {
    provider: String,
    api_key: SecretString,
    #[serde(default)]
    fields: BTreeMap<String, SecretString>,
    source: Source,
    #[serde(default)]
    status: Option<String>,
}

/// What the service will do about a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReportAnswer {
    /// `retest-scheduled`, `deduplicated`, `not-a-rejection`, `no-tenant-key` or
    /// `platform-key-recorded`.
    pub action: String,
    pub detail: String,
    #[serde(default)]
    pub retest_after: Option<String>,
}

/// Every failure, from the problem's `type` (or the status). Messages are the service's
/// `detail`, which never holds a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    UnknownProvider(String),
    /// The tenant has not installed the provider and the platform key cannot serve it.
    #[error("{0}")]
    NotInstalled(String),
    /// Installed without a key, and the platform key cannot serve it.
    #[error("{0}")]
    NoKey(String),
    /// No tenant key, and the platform key is not allowed (by the entry, or the tenant is
    /// bring-your-own-key only).
    #[error("{0}")]
    FallbackNotAllowed(String),
    /// The service token is missing, invalid or not a service token (401/403).
    #[error("{detail}")]
    Unauthorized { status: u16, detail: String },
    /// Refused as malformed (400, 413, 415, 422).
    #[error("{detail}")]
    BadRequest { status: u16, detail: String },
    #[error("{detail}")]
    RateLimited {
        retry_after_s: Option<u64>,
        detail: String,
    },
    /// No answer, a 5xx, or an answer that is not what the service documents (status 0: no
    /// answer).
    #[error("{detail}")]
    Unavailable { status: u16, detail: String },
}

#[derive(Deserialize)]
struct ProblemDoc {
    #[serde(rename = "type")]
    kind: Option<String>,
    detail: Option<String>,
}

fn failure(r: &RawResponse) -> Error {
    let p: Option<ProblemDoc> = serde_json::from_slice(&r.body).ok();
    let kind = p.as_ref().and_then(|p| p.kind.clone()).unwrap_or_default();
    let detail = p
        .and_then(|p| p.detail)
        .unwrap_or_else(|| format!("The BYOK service answered {}.", r.status));
    match (kind.as_str(), r.status) {
        ("/problems/unknown-provider", _) => Error::UnknownProvider(detail),
        ("/problems/not-installed", _) => Error::NotInstalled(detail),
        ("/problems/no-key", _) => Error::NoKey(detail),
        ("/problems/fallback-not-allowed", _) => Error::FallbackNotAllowed(detail),
        // The service never redirects; no transport follows one with the token.
        (_, 300..=399) => Error::Unavailable {
            status: r.status,
            detail: "The BYOK service answered with a redirect; it is not followed with the service token.".into(),
        },
        (_, 401 | 403) => Error::Unauthorized {
            status: r.status,
            detail,
        },
        (_, 429) => Error::RateLimited {
            retry_after_s: r.retry_after.as_deref().and_then(|v| v.trim().parse().ok()),
            detail,
        },
        (_, 404) => Error::UnknownProvider(detail),
        (_, s) if s >= 500 => Error::Unavailable { status: s, detail },
        (_, s) => Error::BadRequest { status: s, detail },
    }
}

/// The seconds in `Cache-Control: ... max-age=N` (0 when absent, garbled, `no-store` or
/// `no-cache`).
pub fn max_age(header: Option<&str>) -> u64 {
    let Some(h) = header else { return 0 };
    let parts: Vec<String> = h
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    if parts.iter().any(|p| p == "no-store" || p == "no-cache") {
        return 0;
    }
    parts
        .iter()
        .find_map(|p| {
            let n = p.strip_prefix("max-age=")?;
            (!n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

type CacheKey = (String, String, String);

/// Answers kept until their `max-age`, bounded in entries (the soonest to expire goes first).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Mutex<HashMap<CacheKey, (AiConfig, u64)>>>,
    max_entries: usize,
}

impl Cache {
    pub fn new(max_entries: usize) -> Self {
        Self {
            inner: Arc::default(),
            max_entries: max_entries.max(1),
        }
    }

    /// The process-wide (isolate-wide) cache every [`Client::new`] shares.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Cache> = OnceLock::new();
        GLOBAL.get_or_init(|| Cache::new(1000)).clone()
    }

    fn get(&self, key: &CacheKey, now_ms: u64) -> Option<AiConfig> {
        let mut map = self.inner.lock().ok()?;
        match map.get(key) {
            Some((c, expires)) if *expires > now_ms => Some(c.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: CacheKey, config: AiConfig, expires: u64) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        map.insert(key, (config, expires));
        while map.len() > self.max_entries {
            let Some(soonest) = map
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&soonest);
        }
    }

    fn forget(&self, key: &CacheKey) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A client of one BYOK service.
pub struct Client<T: Transport> {
    transport: T,
    token: SecretString,
    cache: Cache,
    now_ms: fn() -> u64,
}

/// The clock: the isolate's in Workers, the system's natively.
pub fn default_now_ms() -> u64 {
    #[cfg(all(feature = "worker", target_arch = "wasm32"))]
    {
        worker::Date::now().as_millis()
    }
    #[cfg(not(all(feature = "worker", target_arch = "wasm32")))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

impl<T: Transport> Client<T> {
    /// A client over `transport` with a service token, sharing [`Cache::global`].
    pub fn new(transport: T, token: impl Into<String>) -> Self {
        Self {
            transport,
            token: SecretString::from(token.into()),
            cache: Cache::global(),
            now_ms: default_now_ms,
        }
    }

    /// Uses another cache (tests, or to keep callers apart).
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// Uses another clock (milliseconds since the Unix epoch).
    pub fn with_clock(mut self, now_ms: fn() -> u64) -> Self {
        self.now_ms = now_ms;
        self
    }

    fn key(&self, tenant: &str, provider: &str) -> CacheKey {
        (
            self.token.expose_secret().to_owned(),
            tenant.to_owned(),
            provider.to_owned(),
        )
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<RawResponse, Error> {
        self.transport
            .post(path, self.token.expose_secret(), body.to_string())
            .await
            .map_err(|e| Error::Unavailable {
                status: 0,
                detail: format!("The BYOK service could not be reached: {e}"),
            })
    }

    /// The key for `tenant` and `provider`: a cached answer while its `max-age` lasts,
    /// otherwise `POST /v1/resolve`.
    pub async fn get_ai_config(&self, tenant: &str, provider: &str) -> Result<AiConfig, Error> {
        let key = self.key(tenant, provider);
        let now = (self.now_ms)();
        if let Some(hit) = self.cache.get(&key, now) {
            return Ok(hit);
        }
        let r = self
            .post(
                "/v1/resolve",
                serde_json::json!({"tenant": tenant, "provider": provider}),
            )
            .await?;
        if r.status != 200 {
            return Err(failure(&r));
        }
        let a: ResolveAnswer = serde_json::from_slice(&r.body).map_err(|_| Error::Unavailable {
            status: r.status,
            detail: "The BYOK service's answer is not a resolve answer.".into(),
        })?;
        let config = AiConfig {
            provider: a.provider,
            api_key: a.api_key,
            fields: a.fields,
            source: a.source,
            status: a.status,
        };
        let ttl = max_age(r.cache_control.as_deref());
        if ttl > 0 {
            self.cache
                .put(key, config.clone(), now.saturating_add(ttl * 1000));
        }
        Ok(config)
    }

    /// Reports the status the provider answered a call made with a resolved key; drops the
    /// cached answer when it rejects the key (401, 402, 403).
    pub async fn report_rejection(
        &self,
        tenant: &str,
        provider: &str,
        source: Source,
        status: u16,
    ) -> Result<ReportAnswer, Error> {
        if matches!(status, 401..=403) {
            self.cache.forget(&self.key(tenant, provider));
        }
        let r = self
            .post(
                "/v1/resolve/report",
                serde_json::json!({"tenant": tenant, "provider": provider, "source": source.as_str(), "status": status}),
            )
            .await?;
        if r.status != 202 {
            return Err(failure(&r));
        }
        serde_json::from_slice(&r.body).map_err(|_| Error::Unavailable {
            status: r.status,
            detail: "The BYOK service's answer is not a report answer.".into(),
        })
    }
}

/// A service binding as the transport (feature `worker`).
#[cfg(feature = "worker")]
impl Transport for worker::Fetcher {
    async fn post(&self, path: &str, token: &str, body: String) -> Result<RawResponse, String> {
        let headers = worker::Headers::new();
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
        set("authorization", &format!("Bearer {token}"))?;
        set("content-type", "application/json")?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_headers(headers.clone())
            .with_body(Some(body.into()))
            .with_redirect(worker::RequestRedirect::Manual);
        // The host is ignored by a service binding; the path routes.
        let mut resp = self
            .fetch(format!("https://byok.internal{path}"), Some(init))
            .await
            .map_err(|e| e.to_string())?;
        let h = resp.headers();
        Ok(RawResponse {
            status: resp.status_code(),
            cache_control: h.get("cache-control").ok().flatten(),
            retry_after: h.get("retry-after").ok().flatten(),
            body: resp.bytes().await.map_err(|e| e.to_string())?,
        })
    }
}

/// HTTPS through reqwest (feature `reqwest`): `base` is the service's URL. Its client follows
/// no redirect (the token would go wherever one points), and `base` must be `https`, or plain
/// `http` to a loopback host only (the token would otherwise cross the network in clear).
#[cfg(feature = "reqwest")]
pub struct Https {
    client: reqwest::Client,
    base: String,
}

/// A base URL that would send the service token in clear or nowhere sensible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The BYOK service URL must be https (plain http only to localhost or 127.0.0.1): {0}")]
pub struct InsecureUrl(pub &'static str);

/// Whether `base` may carry a service token: `https://...`, or `http://` to a loopback host.
pub fn check_base_url(base: &str) -> Result<(), InsecureUrl> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or(InsecureUrl("it is not an absolute URL"))?;
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(InsecureUrl("the scheme is neither https nor http"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(InsecureUrl("a plain http host that is not loopback"))
    }
}

#[cfg(feature = "reqwest")]
impl Https {
    pub fn new(base: impl Into<String>) -> Result<Self, InsecureUrl> {
        let base = base.into();
        check_base_url(&base)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| InsecureUrl("the HTTP client could not be built"))?;
        Ok(Self { client, base })
    }
}

#[cfg(feature = "reqwest")]
impl Transport for Https {
    async fn post(&self, path: &str, token: &str, body: String) -> Result<RawResponse, String> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base.trim_end_matches('/')))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            // Without the URL: reqwest's Display names it, and it is the caller's to know.
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "connection failed".to_owned()
                } else {
                    "request failed".to_owned()
                }
            })?;
        let header = |k: &str| {
            resp.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, cache_control, retry_after) = (
            resp.status().as_u16(),
            header("cache-control"),
            header("retry-after"),
        );
        let body = resp.bytes().await.map_err(|_| "body lost".to_owned())?;
        Ok(RawResponse {
            status,
            cache_control,
            retry_after,
            body: body.to_vec(),
        })
    }
}
