//! Loopback fakes of the seeded providers' APIs.
//!
//! The real APIs are unreachable from tests, so each fake answers as the provider's public docs
//! show: the same paths, auth schemes, status codes and error bodies. Those answers are data,
//! in `fixtures/<provider>.json`, each case naming the page it reproduces (see [`fixtures`]);
//! the code here only does what the provider decides before any of them (auth schemes, which
//! credentials an endpoint refuses, regions, JWT signatures). One server serves every provider
//! under a prefix (`/anthropic`, `/openai`, ...): point an entry's `base_url` at
//! [`FakeProviders::base_url`].
//!
//! What a fake answers is chosen by a keyword inside the credential, so tests (and people
//! trying the pages) drive every case with the key they paste. Every provider knows `valid`,
//! `badkey` (also what a key with no keyword gets), `noscope`, `ratelimit` and `down`; the
//! fixtures add each provider's own (`quota`, `suspended`, `billing`, `adhidden`, ...). These
//! four behave the same everywhere:
//!
//! | keyword in the key | answer |
//! |---|---|
//! | `slow` | answers as `valid` after 5 s |
//! | `garbage` | 200 with a malformed body |
//! | `redirect` | 302 to another host |
//! | `huge` | 200 with a 2 MiB body |
//!
//! Keys can also be revoked while the fakes run (`POST /_fake/revoke` with the key as the
//! body, or [`FakeProviders::revoke`]): from then on the Anthropic and OpenAI fakes answer
//! that key as they answer a bad key, on every endpoint, as a provider does after a user
//! deletes a key. For AI functions the fakes also serve Anthropic's `POST /v1/messages` and
//! OpenAI's `POST /v1/chat/completions`: a key the models endpoint refuses gets the same
//! refusal there; any other gets a short completion.
//!
//! Every other provider in `seeds/` (the ones added as data) is served by [`seeded`] under
//! its key (`/mistral/v1/models`), from the documented answers in its `fixtures.json`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

pub mod fixtures;
mod google;
pub mod seeded;
pub mod webhooks;
pub use google::register_service_account;

/// The answers that look the same at every provider, picked from the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Slow,
    Garbage,
    Redirect,
    Huge,
    /// Anything else: the provider's fixture decides.
    Documented,
}

impl Scenario {
    pub fn of(credential: &str) -> Self {
        const KEYWORDS: [(&str, Scenario); 4] = [
            ("slow", Scenario::Slow),
            ("garbage", Scenario::Garbage),
            ("redirect", Scenario::Redirect),
            ("huge", Scenario::Huge),
        ];
        KEYWORDS
            .iter()
            .find(|(k, _)| credential.contains(k))
            .map_or(Scenario::Documented, |(_, s)| *s)
    }
}

/// A running set of fakes on 127.0.0.1.
pub struct FakeProviders {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    revoked: Revoked,
}

/// Keys revoked at the provider since the fakes started.
#[derive(Clone, Default)]
pub struct Revoked(Arc<Mutex<HashSet<String>>>);

impl Revoked {
    pub fn add(&self, key: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.insert(key.to_owned());
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(key))
    }
}

impl FakeProviders {
    /// Binds 127.0.0.1 on `port` (0 for any) and serves on the current Tokio runtime.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let revoked = Revoked::default();
        let app = router_with(revoked.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            task,
            revoked,
        })
    }

    /// Revokes a key at every fake provider (see the module's docs).
    pub fn revoke(&self, key: &str) {
        self.revoked.add(key);
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

/// Every provider's routes, with no key revoked.
pub fn router() -> Router {
    router_with(Revoked::default())
}

/// Every provider's routes over a set of revoked keys.
pub fn router_with(revoked: Revoked) -> Router {
    Router::new()
        .route("/_fake/revoke", post(revoke))
        .route("/anthropic/v1/models", get(anthropic))
        .route("/anthropic/v1/messages", post(anthropic_messages))
        .route("/openai/v1/models", get(openai))
        .route("/openai/v1/chat/completions", post(openai_chat))
        .route("/stripe/v1/account", get(stripe))
        .route("/{region}/2010-04-01/Accounts/{file}", get(twilio))
        .route(
            "/{region}/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
            get(twilio_numbers),
        )
        .route("/{host}/v3/scopes", get(sendgrid))
        .route("/google/token", post(google::token))
        .route(
            "/google/calendar/v3/users/me/calendarList",
            get(google::calendar_list),
        )
        .route("/google/calendar/v3/calendars/{id}", get(google::calendar))
        .route("/meta/{version}/me", get(meta_me))
        .route("/meta/{version}/{account}", get(meta_ad_account))
        .route("/generic/v1/me", get(generic))
        .fallback(seeded::answer)
        .layer(Extension(revoked))
}

async fn revoke(Extension(revoked): Extension<Revoked>, key: String) -> StatusCode {
    revoked.add(key.trim());
    StatusCode::NO_CONTENT
}

/// The key as the provider sees it now: a revoked key reads as a bad one.
fn current<'a>(revoked: &Revoked, key: &'a str) -> &'a str {
    if revoked.contains(key) {
        "badkey"
    } else {
        key
    }
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

/// Serves the case of `provider`'s fixture that `endpoint` answers for this credential.
fn serve(provider: &str, endpoint: &str, credential: &str, vars: &[(&str, &str)]) -> Response {
    match fixtures::of(provider).and_then(|f| f.choose(endpoint, credential)) {
        Some(case) => case.respond(vars),
        None => no_fixture(provider, endpoint),
    }
}

/// Serves one case by id: an answer the fake's code decides (an API key where the provider
/// refuses it, an unknown account).
fn serve_case(provider: &str, id: &str, vars: &[(&str, &str)]) -> Response {
    match fixtures::of(provider).and_then(|f| f.case(id)) {
        Some(case) => case.respond(vars),
        None => no_fixture(provider, id),
    }
}

fn no_fixture(provider: &str, what: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("fixtures/{provider}.json has no case for {what}"),
    )
        .into_response()
}

/// The credential a keyword-chosen case is picked from: a `slow` one answers as `valid`
/// once its delay is over.
fn chosen(scenario: Scenario, credential: &str) -> &str {
    if scenario == Scenario::Slow {
        "valid"
    } else {
        credential
    }
}

/// The first 8 and last 4 characters, as providers quote a refused key.
fn key_hint(key: &str) -> String {
    let head: String = key.chars().take(8).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}****{tail}")
}

/// Anthropic: `GET /v1/models` with `x-api-key` and `anthropic-version`.
async fn anthropic(Extension(revoked): Extension<Revoked>, headers: HeaderMap) -> Response {
    let Some(key) = header(&headers, "x-api-key") else {
        return serve_case("anthropic", "models/no-key", &[]);
    };
    if header(&headers, "anthropic-version").is_none() {
        return serve_case("anthropic", "models/no-version", &[]);
    }
    let key = current(&revoked, key);
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    serve("anthropic", "models", chosen(scenario, key), &[])
}

/// Anthropic: `POST /v1/messages`. Errors are the account's, as on `/v1/models` (Anthropic's
/// error shapes are the same on every endpoint); otherwise a one-block message.
async fn anthropic_messages(revoked: Extension<Revoked>, headers: HeaderMap) -> Response {
    let refused = anthropic(revoked, headers).await;
    if refused.status() != StatusCode::OK {
        return refused;
    }
    Json(json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-fake",
        "content": [{"type": "text", "text": "Hello from the fake Anthropic."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 7}
    }))
    .into_response()
}

/// OpenAI: `POST /v1/chat/completions`, refused as `/v1/models` refuses the key.
async fn openai_chat(revoked: Extension<Revoked>, headers: HeaderMap) -> Response {
    let refused = openai(revoked, headers).await;
    if refused.status() != StatusCode::OK {
        return refused;
    }
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "model": "gpt-fake",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello from the fake OpenAI."}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10}
    }))
    .into_response()
}

/// OpenAI: `GET /v1/models` with a bearer key.
async fn openai(Extension(revoked): Extension<Revoked>, headers: HeaderMap) -> Response {
    let key = current(&revoked, bearer(&headers).unwrap_or_default());
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let tail: String = key_hint(key)
        .rsplit("****")
        .next()
        .unwrap_or_default()
        .to_owned();
    serve(
        "openai",
        "models",
        chosen(scenario, key),
        &[("key_hint", &format!("sk-****{tail}"))],
    )
}

/// Stripe: `GET /v1/account`; keys arrive as Bearer or as the Basic auth user.
async fn stripe(headers: HeaderMap) -> Response {
    let key = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| basic(&headers).map(|(u, _)| u))
        .unwrap_or_default();
    let scenario = Scenario::of(&key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    serve(
        "stripe",
        "account",
        chosen(scenario, &key),
        &[("key_hint", &key_hint(&key))],
    )
}

/// The region a fake credential belongs to: `ie1`/`au1` (Twilio) or `eu` (SendGrid) when it
/// says so, else the default region.
fn credential_region<'a>(credential: &str, regions: &[&'a str], default: &'a str) -> &'a str {
    regions
        .iter()
        .find(|r| credential.contains(&format!("-{r}-")))
        .copied()
        .unwrap_or(default)
}

/// Twilio: Basic auth with the Account SID (or an API key SID) and the Auth Token (or the API
/// key's secret). Credentials belong to one region: they fail on another region's host.
/// `/twilio` is US1, `/twilio-ie1` and `/twilio-au1` the others.
async fn twilio_request(
    region: &str,
    account_sid: &str,
    endpoint: &str,
    headers: &HeaderMap,
) -> Response {
    let vars = [("sid", account_sid)];
    let Some((user, token)) = basic(headers) else {
        return serve_case("twilio", "account/authenticate", &vars);
    };
    if credential_region(&token, &["ie1", "au1"], "us1") != region {
        return serve_case("twilio", &format!("{endpoint}/wrong-region"), &vars);
    }
    let api_key = user.starts_with("SK");
    if endpoint == "account" && api_key {
        return serve_case("twilio", "account/standard-key-refused", &vars);
    }
    if !api_key && user != account_sid {
        return serve_case("twilio", "account/authenticate", &vars);
    }
    let scenario = Scenario::of(&token);
    if let Some(r) = common(scenario).await {
        return r;
    }
    serve("twilio", endpoint, chosen(scenario, &token), &vars)
}

async fn twilio(Path((region, file)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let region = region.strip_prefix("twilio-").unwrap_or("us1").to_owned();
    let Some(sid) = file.strip_suffix(".json") else {
        return serve_case("twilio", "account/not-found", &[]);
    };
    twilio_request(&region, sid, "account", &headers).await
}

async fn twilio_numbers(
    Path((region, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let region = region.strip_prefix("twilio-").unwrap_or("us1").to_owned();
    twilio_request(&region, &sid, "phone-numbers", &headers).await
}

/// SendGrid: `GET /v3/scopes` with a bearer key. `/sendgrid-eu` is the EU host; a key of an
/// EU subuser (`-eu-` in the fake key) only works there.
async fn sendgrid(Path(host): Path<String>, headers: HeaderMap) -> Response {
    let key = bearer(&headers).unwrap_or_default();
    let region = if host == "sendgrid-eu" {
        "eu"
    } else {
        "global"
    };
    if credential_region(key, &["eu"], "global") != region {
        return serve_case("sendgrid", "scopes/wrong-region", &[]);
    }
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    serve("sendgrid", "scopes", chosen(scenario, key), &[])
}

/// The Graph API versions Meta still serves to the Marketing API as of the fixture's `checked`
/// date (see `fixtures/meta-ads.json`'s versions page): older ones answer error 2635.
const META_OLDEST_SUPPORTED: u32 = 25;
const META_LATEST: &str = "v27.0";

fn meta_version_expired(version: &str) -> bool {
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    major.is_none_or(|m| m < META_OLDEST_SUPPORTED)
}

fn meta_token(headers: &HeaderMap, query: &std::collections::HashMap<String, String>) -> String {
    bearer(headers)
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned())
        .unwrap_or_default()
}

/// Meta Graph API: `/{version}/me`, then `/{version}/act_{id}`. A version past its expiry is
/// refused on every call (`-expired-` tokens stand for calls made with such a version).
async fn meta_me(
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if meta_version_expired(&version) {
        return serve_case("meta-ads", "me/version-expired", &[("latest", META_LATEST)]);
    }
    let token = meta_token(&headers, &query);
    if token.is_empty() {
        return serve_case("meta-ads", "me/no-token", &[]);
    }
    let scenario = Scenario::of(&token);
    if let Some(r) = common(scenario).await {
        return r;
    }
    serve(
        "meta-ads",
        "me",
        chosen(scenario, &token),
        &[("version", &version)],
    )
}

async fn meta_ad_account(
    Path((version, account)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if meta_version_expired(&version) {
        return serve_case("meta-ads", "me/version-expired", &[("latest", META_LATEST)]);
    }
    let token = meta_token(&headers, &query);
    serve(
        "meta-ads",
        "ad-account",
        chosen(Scenario::of(&token), &token),
        &[("account", &account), ("version", &version)],
    )
}

/// A generic provider for the declarative `http-check` plugin: `GET /v1/me` with a bearer. It
/// stands for no real API, so its answers are here rather than in a fixture.
async fn generic(headers: HeaderMap) -> Response {
    let key = bearer(&headers).unwrap_or_default();
    let scenario = Scenario::of(key);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let key = chosen(scenario, key);
    let has = |kw: &str| key.contains(kw);
    if has("noscope") {
        json_response(403, json!({"message": "scope missing"}))
    } else if has("ratelimit") {
        json_response(429, json!({"message": "slow down"}))
    } else if has("down") {
        json_response(502, json!({"message": "bad gateway"}))
    } else if has("valid") {
        json_response(200, json!({"account": {"name": "Generic Co"}}))
    } else {
        json_response(401, json!({"message": "bad token"}))
    }
}
