//! The guest SDK for BYOK connection-test plugins (contracts `wit/v1` and `wit/v2`).
//!
//! A plugin is a [`Plugin`]: `start` gets the credential and context and returns the first
//! [`Step`]; `resume` gets each response and returns the next. The types here are plain Rust,
//! so a plugin's logic also runs and is tested natively ([`drive`]); on wasm32,
//! [`export_plugin!`] wires it to the WIT exports.
//!
//! ```ignore
//! struct Example;
//! impl Plugin for Example {
//!     fn start(credential: Credential, ctx: Context) -> (Self, Step) {
//!         let url = format!("{}/v1/me", ctx.base_url("https://api.example.com"));
//!         (Example, Step::Send(Request::get(url).bearer(&credential.secret)))
//!     }
//!     fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
//!         Step::conclude(response, |r| match r.status {
//!             200 => Outcome::connected("Connected"),
//!             _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
//!         })
//!     }
//! }
//! export_plugin!(Example);
//! ```
//!
//! A plugin that can say more than the verdict (when the key expires, which scopes it lacks,
//! that the account is out of credit) sets [`Outcome::expires_at`], [`Outcome::missing`] or
//! [`Outcome::hint`] and is exported with `byok_plugin_sdk_v2::export_plugin_v2!` instead
//! (the crate `byok-plugin-sdk-v2`, contract `wit/v2`). Under [`export_plugin!`] (v1) those
//! are dropped.

use std::fmt::Write as _;

pub use serde_json::{self, json, Value};

#[cfg(target_arch = "wasm32")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v1",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "byok_plugin_sdk::bindings",
    });
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod glue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

/// A request for the host to send. Its `Debug` shows header names and the body's size only:
/// they carry the credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    /// `Authorization: Basic base64(user:password)`.
    pub fn basic(self, user: &str, password: &str) -> Self {
        let encoded = base64_encode(format!("{user}:{password}").as_bytes());
        self.header("authorization", &format!("Basic {encoded}"))
    }
    /// A JSON body with its content type.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.header("content-type", "application/json")
    }
    /// An `application/x-www-form-urlencoded` body.
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.body = Some(body.into_bytes());
        self.header("content-type", "application/x-www-form-urlencoded")
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &url)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// The provider's answer, as the host received it (redirects are not followed).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Status, header names and body size: a provider may echo the key in a header or the body.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Timeout,
    Connection(String),
}

/// The tenant's credential: the main secret and the other fields by name.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub secret: String,
    pub fields: Vec<(String, String)>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &"[redacted]")
            .field(
                "fields",
                &self.fields.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_of_a_request_response_or_credential_never_shows_the_key() {
        let key = "sk-FAKE-sdk-0123456789";
        let request = Request::get(format!("https://api.example.com/x?key={key}"))
            .bearer(key)
            .form(&[("token", key)]);
        let credential = Credential::new(key).with_field("account_sid", key);
        let response = Response {
            status: 401,
            headers: vec![("x-echo".into(), key.into())],
            body: format!("{{\"error\": \"bad key {key}\"}}").into_bytes(),
        };
        for text in [
            format!("{request:?}"),
            format!("{credential:?}"),
            format!("{response:?}"),
        ] {
            assert!(!text.contains(key), "{text}");
        }
    }
}

impl Credential {
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            fields: Vec::new(),
        }
    }
    pub fn with_field(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }
    /// A field's value, if present and not blank.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }
}

/// The run's context: the entry's config and the host's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The entry's `test_plugin.config` (an object; `Null` if the host sent no valid JSON).
    pub config: Value,
    pub now_unix_seconds: u64,
}

impl Context {
    pub fn new(config: Value, now_unix_seconds: u64) -> Self {
        Self {
            config,
            now_unix_seconds,
        }
    }
    /// A string from the config.
    pub fn config_str(&self, name: &str) -> Option<&str> {
        self.config.get(name).and_then(Value::as_str)
    }
    /// The config's `base_url` without a trailing slash, or `default` (the provider's real
    /// API). Tests point it at a loopback fake.
    pub fn base_url<'a>(&'a self, default: &'a str) -> &'a str {
        self.config_str("base_url")
            .unwrap_or(default)
            .trim_end_matches('/')
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Connected,
    InvalidCredential,
    InsufficientPermission,
    RateLimited,
    ProviderUnavailable,
    UnexpectedResponse,
}

/// Why a credential fails, when the provider says more than "refused" (`wit/v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The provider's account is out of credit or quota.
    Billing,
    /// A credential of the wrong mode or account (test mode where live is expected).
    WrongMode,
    /// The credential has expired.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub message: String,
    pub account_label: Option<String>,
    pub warnings: Vec<String>,
    /// When the credential expires, in Unix seconds, if the provider says (`wit/v2`).
    pub expires_at: Option<u64>,
    /// The permissions or scopes the credential lacks, as the provider names them (`wit/v2`).
    pub missing_scopes: Vec<String>,
    /// Why it fails, beyond the verdict (`wit/v2`).
    pub hint: Option<Hint>,
}

impl Outcome {
    pub fn new(verdict: Verdict, message: impl Into<String>) -> Self {
        Self {
            verdict,
            message: message.into(),
            account_label: None,
            warnings: Vec::new(),
            expires_at: None,
            missing_scopes: Vec::new(),
            hint: None,
        }
    }
    /// The credential expires at `unix_seconds` (`wit/v2`).
    pub fn expires_at(mut self, unix_seconds: u64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }
    /// The credential lacks these scopes or permissions (`wit/v2`).
    pub fn missing<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.missing_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }
    /// Why it fails, beyond the verdict (`wit/v2`).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
        self
    }
    pub fn connected(message: impl Into<String>) -> Self {
        Self::new(Verdict::Connected, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Verdict::InvalidCredential, message)
    }
    pub fn insufficient(message: impl Into<String>) -> Self {
        Self::new(Verdict::InsufficientPermission, message)
    }
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(Verdict::RateLimited, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Verdict::ProviderUnavailable, message)
    }
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(Verdict::UnexpectedResponse, message)
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.account_label = Some(label.into());
        self
    }
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The outcome of a request that got no response: always transient.
    pub fn from_transport(error: &TransportError) -> Self {
        match error {
            TransportError::Timeout => Self::unavailable("The provider did not answer in time."),
            TransportError::Connection(why) => {
                Self::unavailable(format!("Could not reach the provider: {why}"))
            }
        }
    }

    /// An answer no rule matched, with the status and a short reason if the body has one.
    pub fn unexpected_status(response: &Response) -> Self {
        let mut message = format!(
            "Unexpected answer from the provider (HTTP {})",
            response.status
        );
        if let Some(reason) = error_message(response) {
            let _ = write!(message, ": {reason}");
        }
        Self::unexpected(message)
    }
}

/// The outcome for statuses whose meaning is the same at most providers; `None` for the rest
/// (including 2xx), which the plugin decides.
pub fn common_status(response: &Response) -> Option<Outcome> {
    let reason = error_message(response);
    let with = |base: &str| match &reason {
        Some(r) => format!("{base}: {r}"),
        None => format!("{base}."),
    };
    Some(match response.status {
        401 => Outcome::invalid(with("The provider rejected the key")),
        403 => Outcome::insufficient(with("The key is valid but lacks a permission")),
        429 => Outcome::rate_limited(with(
            "The provider is rate limiting requests; try again later",
        )),
        500..=599 => Outcome::unavailable(with(&format!(
            "The provider is unavailable (HTTP {})",
            response.status
        ))),
        300..=399 => Outcome::unexpected(format!(
            "The provider redirected the request (HTTP {}); redirects are not followed.",
            response.status
        )),
        _ => return None,
    })
}

/// A human-readable error message from common JSON error shapes:
/// `{"error": {"message": ...}}`, `{"error": "..."}`, `{"message": ...}`,
/// `{"errors": [{"message": ...}]}`, `{"error_description": ...}`. Capped at 300 characters.
pub fn error_message(response: &Response) -> Option<String> {
    let v = response.json()?;
    let found = v
        .pointer("/error/message")
        .or_else(|| v.pointer("/errors/0/message"))
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .and_then(Value::as_str)?;
    Some(found.chars().take(300).collect())
}

/// A test run step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Send(Request),
    Done(Outcome),
}

impl Step {
    /// Ends a one-request test: a transport error becomes its transient outcome, a response
    /// goes through `verdict`.
    pub fn conclude(
        response: Result<Response, TransportError>,
        verdict: impl FnOnce(&Response) -> Outcome,
    ) -> Step {
        Step::Done(match response {
            Err(e) => Outcome::from_transport(&e),
            Ok(r) => verdict(&r),
        })
    }
}

/// A connection-test plugin.
pub trait Plugin: Sized {
    /// Offline shape checks; warnings only.
    fn format_check(_credential: &Credential, _config: &Value) -> Vec<String> {
        Vec::new()
    }
    /// Begins a run: the plugin's state and the first step.
    fn start(credential: Credential, context: Context) -> (Self, Step);
    /// Continues with the answer to the last `Send`.
    fn resume(&mut self, response: Result<Response, TransportError>) -> Step;
}

/// Runs a plugin natively against `respond` (a fake provider), up to `max_steps` requests.
/// For tests and for the native baseline of the benchmark; the real host is `plugin-host`.
pub fn drive<P: Plugin>(
    credential: Credential,
    context: Context,
    max_steps: usize,
    mut respond: impl FnMut(&Request) -> Result<Response, TransportError>,
) -> Result<Outcome, &'static str> {
    let (mut plugin, mut step) = P::start(credential, context);
    for _ in 0..=max_steps {
        match step {
            Step::Done(outcome) => return Ok(outcome),
            Step::Send(request) => step = plugin.resume(respond(&request)),
        }
    }
    Err("too many steps")
}

/// Wires a [`Plugin`] to the WIT exports (on wasm32; a no-op elsewhere).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __byok_plugin_export {
            use super::*;
            use $crate::bindings::exports::byok::plugin::check as wit;

            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$plugin>> =
                    const { ::std::cell::RefCell::new(None) };
            }

            struct Export;

            impl $crate::bindings::exports::byok::plugin::check::Guest for Export {
                fn format_check(credential: wit::Credential, config: String) -> Vec<String> {
                    $crate::glue::v1::format_check::<$plugin>(credential, config)
                }
                fn start(credential: wit::Credential, context: wit::Context) -> wit::Step {
                    STATE.with(|slot| $crate::glue::v1::start::<$plugin>(slot, credential, context))
                }
                fn resume(response: Result<wit::Response, wit::TransportError>) -> wit::Step {
                    STATE.with(|slot| $crate::glue::v1::resume::<$plugin>(slot, response))
                }
            }

            $crate::bindings::export!(Export with_types_in $crate::bindings);
        }
    };
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a path segment or a form value).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Standard base64 with padding (for Basic auth and JWTs use [`base64url`]).
pub fn base64_encode(data: &[u8]) -> String {
    encode_b64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

/// URL-safe base64 without padding (JWT segments).
pub fn base64url(data: &[u8]) -> String {
    encode_b64(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        false,
    )
}

fn encode_b64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, padded, url) in [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), padded);
            assert_eq!(base64url(input.as_bytes()), url);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn form_bodies_are_percent_encoded() {
        let r = Request::post("https://x").form(&[("grant_type", "urn:a b"), ("k", "é")]);
        assert_eq!(
            r.body.as_deref(),
            Some(&b"grant_type=urn%3Aa%20b&k=%C3%A9"[..])
        );
    }

    #[test]
    fn common_statuses_map_to_verdicts_with_the_provider_reason() {
        let r = |status, body: &str| Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        let o =
            common_status(&r(401, r#"{"error":{"message":"invalid x-api-key"}}"#)).expect("401");
        assert_eq!(o.verdict, Verdict::InvalidCredential);
        assert_eq!(
            o.message,
            "The provider rejected the key: invalid x-api-key"
        );
        assert_eq!(
            common_status(&r(503, "")).map(|o| o.verdict),
            Some(Verdict::ProviderUnavailable)
        );
        assert_eq!(
            common_status(&r(302, "")).map(|o| o.verdict),
            Some(Verdict::UnexpectedResponse)
        );
        assert_eq!(
            common_status(&r(429, "")).map(|o| o.verdict),
            Some(Verdict::RateLimited)
        );
        assert_eq!(common_status(&r(200, "")), None);
        assert_eq!(common_status(&r(404, "")), None);
    }
}
