//! Loopback fakes of the seeded providers' APIs.
//!
//! The real APIs are unreachable from tests, so each fake answers as the provider's public docs
//! show: the same paths, auth schemes, status codes and error bodies. One server serves every
//! provider under a prefix (`/anthropic`, `/openai`, ...): point an entry's `base_url` at
//! [`FakeProviders::base_url`].
//!
//! What a fake answers is chosen by a keyword inside the credential, so tests (and people
//! trying the pages) drive every case with the key they paste:
//!
//! | keyword in the key | answer |
//! |---|---|
//! | `valid` | success |
//! | `badkey` | the provider's "invalid key" error |
//! | `noscope` | valid key, missing permission |
//! | `ratelimit` | 429 rate limit |
//! | `quota` | OpenAI: 429 `insufficient_quota` |
//! | `suspended` | Twilio: account suspended |
//! | `down` | 5xx |
//! | `slow` | answers after 5 s |
//! | `garbage` | 200 with a malformed body |
//! | `redirect` | 302 to another host |
//! | `huge` | 200 with a 2 MiB body |
//! | `empty` | Google: no calendar shared |
//!
//! A key with none of them is refused as invalid.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

mod google;
pub use google::register_service_account;

/// How a fake answers, picked from the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Valid,
    BadKey,
    NoScope,
    RateLimit,
    Quota,
    Suspended,
    Down,
    Slow,
    Garbage,
    Redirect,
    Huge,
    Empty,
}

impl Scenario {
    pub fn of(credential: &str) -> Self {
        const KEYWORDS: [(&str, Scenario); 12] = [
            ("badkey", Scenario::BadKey),
            ("noscope", Scenario::NoScope),
            ("ratelimit", Scenario::RateLimit),
            ("quota", Scenario::Quota),
            ("suspended", Scenario::Suspended),
            ("down", Scenario::Down),
            ("slow", Scenario::Slow),
            ("garbage", Scenario::Garbage),
            ("redirect", Scenario::Redirect),
            ("huge", Scenario::Huge),
            ("empty", Scenario::Empty),
            ("valid", Scenario::Valid),
        ];
        KEYWORDS
            .iter()
            .find(|(k, _)| credential.contains(k))
            .map_or(Scenario::BadKey, |(_, s)| *s)
    }
}

/// A running set of fakes on 127.0.0.1.
pub struct FakeProviders {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeProviders {
    /// Binds 127.0.0.1 on `port` (0 for any) and serves on the current Tokio runtime.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router()).await;
        });
        Ok(Self { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/<provider>`: the `base_url` to configure.
    pub fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}", self.addr)
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every provider's routes.
pub fn router() -> Router {
    Router::new()
        .route("/anthropic/v1/models", get(anthropic))
        .route("/openai/v1/models", get(openai))
        .route("/stripe/v1/account", get(stripe))
        .route("/twilio/2010-04-01/Accounts/{file}", get(twilio))
        .route("/sendgrid/v3/scopes", get(sendgrid))
        .route("/google/token", post(google::token))
        .route(
            "/google/calendar/v3/users/me/calendarList",
            get(google::calendar_list),
        )
        .route("/meta/{version}/me", get(meta_me))
        .route("/meta/{version}/{account}", get(meta_ad_account))
        .route("/generic/v1/me", get(generic))
        .fallback(|req: Request| async move {
            (
                StatusCode::NOT_FOUND,
                format!("no fake at {}", req.uri().path()),
            )
        })
}

/// Answers every scenario that looks the same at every provider; `None` leaves it to the fake.
async fn common(scenario: Scenario) -> Option<Response> {
    Some(match scenario {
        Scenario::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            return None;
        }
        Scenario::Garbage => (StatusCode::OK, "<html><body>Maintenance</body>").into_response(),
        Scenario::Redirect => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "http://evil.example.net/steal")
            .body(Body::empty())
            .unwrap_or_default(),
        Scenario::Huge => (StatusCode::OK, vec![b'x'; 2 << 20]).into_response(),
        _ => return None,
    })
}

fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "))
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = header(headers, "authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Anthropic: <https://docs.claude.com/en/api/errors>.
async fn anthropic(headers: HeaderMap) -> Response {
    let err = |status: u16, kind: &str, message: &str| {
        json_response(
            status,
            json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}),
        )
    };
    let Some(key) = header(&headers, "x-api-key") else {
        return err(401, "authentication_error", "x-api-key header is required");
    };
    if header(&headers, "anthropic-version").is_none() {
        return err(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    match scenario {
        Scenario::Valid | Scenario::Slow => json_response(
            200,
            json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                   "created_at": "2025-09-29T00:00:00Z"}], "has_more": true,
                   "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
        ),
        Scenario::NoScope => err(
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        Scenario::RateLimit => err(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        Scenario::Down => err(529, "overloaded_error", "Overloaded"),
        _ => err(401, "authentication_error", "invalid x-api-key"),
    }
}

/// OpenAI: <https://platform.openai.com/docs/guides/error-codes>.
async fn openai(headers: HeaderMap) -> Response {
    let err = |status: u16, message: &str, kind: &str, code: Value| {
        json_response(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    };
    let key = bearer(&headers).unwrap_or_default();
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    match scenario {
        Scenario::Valid | Scenario::Slow => json_response(
            200,
            json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"}]}),
        ),
        Scenario::NoScope => err(401, "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.", "invalid_request_error", Value::Null),
        Scenario::Quota => err(429, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", json!("insufficient_quota")),
        Scenario::RateLimit => err(429, "Rate limit reached for requests", "requests", json!("rate_limit_exceeded")),
        Scenario::Down => err(503, "The engine is currently overloaded, please try again later", "server_error", Value::Null),
        _ => err(401, &format!("Incorrect API key provided: sk-****{tail}. You can find your API key at https://platform.openai.com/account/api-keys."), "invalid_request_error", json!("invalid_api_key")),
    }
}

/// Stripe: <https://docs.stripe.com/error-codes>. Keys arrive as Basic auth user or Bearer.
async fn stripe(headers: HeaderMap) -> Response {
    let err = |status: u16, message: String, kind: &str| {
        json_response(status, json!({"error": {"message": message, "type": kind}}))
    };
    let key = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| basic(&headers).map(|(u, _)| u))
        .unwrap_or_default();
    let scenario = Scenario::of(&key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let shown = format!(
        "{}****{}",
        &key[..key.len().min(8)],
        &key[key.len().saturating_sub(4)..]
    );
    match scenario {
        Scenario::Valid | Scenario::Slow => json_response(
            200,
            json!({"id": "acct_1Fake", "object": "account", "business_profile": {"name": "Acme Ltd"},
                   "settings": {"dashboard": {"display_name": "Acme"}}, "charges_enabled": true, "country": "GB"}),
        ),
        Scenario::NoScope => err(403, format!("The provided key '{shown}' does not have the required permissions for this endpoint on account 'acct_1Fake'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue."), "invalid_request_error"),
        Scenario::RateLimit => err(429, "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.".into(), "invalid_request_error"),
        Scenario::Down => err(500, "An unknown error occurred".into(), "api_error"),
        _ => err(401, format!("Invalid API Key provided: {shown}"), "invalid_request_error"),
    }
}

/// Twilio: <https://www.twilio.com/docs/api/errors>. Basic auth with the Account SID (or an
/// API key SID) and the Auth Token (or API key secret).
async fn twilio(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let err = |status: u16, code: u32, message: &str| {
        json_response(
            status,
            json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
        )
    };
    let Some(sid) = file.strip_suffix(".json") else {
        return err(404, 20404, "The requested resource was not found");
    };
    let Some((user, token)) = basic(&headers) else {
        return err(401, 20003, "Authenticate");
    };
    if user != sid && !user.starts_with("SK") {
        return err(401, 20003, "Authenticate");
    }
    let scenario = Scenario::of(&token);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let account = |status: &str| {
        json_response(
            200,
            json!({"sid": sid, "friendly_name": "Acme SMS", "status": status, "type": "Full",
                   "owner_account_sid": sid, "uri": format!("/2010-04-01/Accounts/{sid}.json")}),
        )
    };
    match scenario {
        Scenario::Valid | Scenario::Slow => account("active"),
        Scenario::Suspended => account("suspended"),
        Scenario::RateLimit => err(429, 20429, "Too Many Requests"),
        Scenario::Down => err(503, 20503, "Service unavailable"),
        Scenario::NoScope => err(403, 20403, "Forbidden"),
        _ => err(401, 20003, "Authenticate"),
    }
}

/// SendGrid: <https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses>.
async fn sendgrid(headers: HeaderMap) -> Response {
    let err = |status: u16, message: &str| {
        json_response(
            status,
            json!({"errors": [{"field": null, "message": message}]}),
        )
    };
    let key = bearer(&headers).unwrap_or_default();
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    match scenario {
        Scenario::Valid | Scenario::Slow => json_response(
            200,
            json!({"scopes": ["mail.send", "alerts.read", "stats.read"]}),
        ),
        Scenario::NoScope => json_response(200, json!({"scopes": ["alerts.read", "stats.read"]})),
        Scenario::RateLimit => err(429, "too many requests"),
        Scenario::Down => err(500, "internal server error"),
        _ => err(401, "authorization required"),
    }
}

/// Meta Graph API: <https://developers.facebook.com/docs/graph-api/guides/error-handling>.
fn meta_error(status: u16, code: u32, subcode: Option<u32>, message: &str, kind: &str) -> Response {
    let mut error =
        json!({"message": message, "type": kind, "code": code, "fbtrace_id": "AFakeTrace"});
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    json_response(status, json!({"error": error}))
}

fn meta_token(headers: &HeaderMap, query: &std::collections::HashMap<String, String>) -> String {
    bearer(headers)
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned())
        .unwrap_or_default()
}

async fn meta_me(
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let token = meta_token(&headers, &query);
    if token.is_empty() {
        return meta_error(
            400,
            2500,
            None,
            "An active access token must be used to query information about the current user.",
            "OAuthException",
        );
    }
    let scenario = Scenario::of(&token);
    if let Some(r) = common(scenario).await {
        return r;
    }
    match scenario {
        Scenario::Valid | Scenario::Slow | Scenario::NoScope => {
            json_response(200, json!({"id": "61550000000001", "name": "SoConnective System User"}))
        }
        Scenario::RateLimit => meta_error(400, 4, None, "(#4) Application request limit reached", "OAuthException"),
        Scenario::Down => meta_error(500, 2, None, "An unexpected error has occurred. Please retry your request later.", "OAuthException"),
        Scenario::Suspended => meta_error(401, 190, Some(463), "Error validating access token: Session has expired on Tuesday, 01-Jul-25 10:00:00 PDT.", "OAuthException"),
        _ => meta_error(400, 190, None, "Invalid OAuth access token - Cannot parse access token", "OAuthException"),
    }
}

async fn meta_ad_account(
    Path((_version, account)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let token = meta_token(&headers, &query);
    match Scenario::of(&token) {
        Scenario::Valid | Scenario::Slow => json_response(
            200,
            json!({"id": account, "name": "Acme Ads", "account_status": 1, "currency": "EUR"}),
        ),
        Scenario::NoScope => meta_error(
            403,
            200,
            None,
            "(#200) Ad account owner has NOT grant ads_management or ads_read permission",
            "OAuthException",
        ),
        _ => meta_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
        ),
    }
}

/// A generic provider for the declarative `http-check` plugin: `GET /v1/me` with a bearer.
async fn generic(headers: HeaderMap) -> Response {
    let key = bearer(&headers).unwrap_or_default();
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    match scenario {
        Scenario::Valid | Scenario::Slow => {
            json_response(200, json!({"account": {"name": "Generic Co"}}))
        }
        Scenario::NoScope => json_response(403, json!({"message": "scope missing"})),
        Scenario::RateLimit => json_response(429, json!({"message": "slow down"})),
        Scenario::Down => json_response(502, json!({"message": "bad gateway"})),
        _ => json_response(401, json!({"message": "bad token"})),
    }
}
