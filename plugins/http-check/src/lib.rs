//! A declarative connection test: everything comes from the catalog entry's config, so an
//! admin adds a simple provider with data alone.
//!
//! ```json
//! {
//!   "method": "GET",
//!   "url": "https://api.example.com/v1/me",
//!   "auth": {"type": "bearer"},
//!   "headers": {"accept": "application/json"},
//!   "statuses": {"invalid-credential": [401, 404]},
//!   "errors": {"pointer": "/error/code", "verdicts": {"invalid_api_key": "invalid-credential"}},
//!   "connected_when": {"pointer": "/ok", "equals": true},
//!   "label_pointer": "/account/name",
//!   "expect_json": true
//! }
//! ```
//!
//! - `auth` is one of `{"type": "bearer"}`, `{"type": "header", "name": "X-Api-Key",
//!   "prefix": ""}`, `{"type": "basic", "username": "api"}` or
//!   `{"type": "basic", "username_field": "account_sid"}` (the secret is the password), and
//!   `{"type": "query", "name": "api_key"}`.
//! - `statuses` maps verdicts to status codes and overrides the defaults: 2xx connected, 401
//!   invalid, 403 insufficient permission, 429 rate limited, 5xx unavailable, anything else
//!   unexpected.
//! - `errors`: when the body is JSON with a string (or number) at `pointer` that `verdicts`
//!   lists, that verdict wins over the status (Gemini answers a bad key with 400 and
//!   `API_KEY_INVALID`; Slack with 200 and `{"ok": false, "error": "invalid_auth"}`).
//! - `connected_when`: a success counts only when the body holds `equals` at `pointer`
//!   (Slack's `ok`, Datadog's `valid`); otherwise the answer is unexpected.
//! - `expect_json` (default `true`): a success whose body is not JSON is unexpected (a login
//!   page, a proxy's error page, an empty answer).
//!
//! The config is checked whole before any request: an unknown key, a verdict name that is not
//! one, a status outside 100-599 or a `url` that is not http(s) ends the run as unexpected,
//! saying what to fix, so the conformance suite refuses the entry at upload.

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Method, Outcome, Plugin,
    Request, Response, Step, TransportError, Value, Verdict,
};

/// The config keys this plugin reads.
const KEYS: [&str; 9] = [
    "method",
    "url",
    "auth",
    "headers",
    "statuses",
    "errors",
    "connected_when",
    "label_pointer",
    "expect_json",
];

const VERDICTS: [(&str, Verdict); 6] = [
    ("connected", Verdict::Connected),
    ("invalid-credential", Verdict::InvalidCredential),
    ("insufficient-permission", Verdict::InsufficientPermission),
    ("rate-limited", Verdict::RateLimited),
    ("provider-unavailable", Verdict::ProviderUnavailable),
    ("unexpected-response", Verdict::UnexpectedResponse),
];

pub struct HttpCheck {
    config: Config,
}

/// The checked config (see the crate docs).
struct Config {
    statuses: Vec<(u16, Verdict)>,
    errors: Option<(String, Vec<(String, Verdict)>)>,
    connected_when: Option<(String, Value)>,
    label_pointer: Option<String>,
    expect_json: bool,
}

fn config_error(why: &str) -> Outcome {
    Outcome::unexpected(format!(
        "The provider's test is misconfigured: {why}. Tell the platform admin."
    ))
}

fn verdict_named(name: &str, at: &str) -> Result<Verdict, String> {
    VERDICTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!(
                "{at}: '{name}' is not a verdict (use one of {})",
                VERDICTS.map(|(n, _)| n).join(", ")
            )
        })
}

fn pointer(v: &Value, at: &str) -> Result<String, String> {
    match v.as_str() {
        Some(p) if p.is_empty() || p.starts_with('/') => Ok(p.to_owned()),
        _ => Err(format!(
            "{at} must be a JSON pointer such as \"/error/code\""
        )),
    }
}

impl Config {
    fn parse(config: &Value) -> Result<Self, String> {
        let map = config
            .as_object()
            .ok_or("the config must be a JSON object")?;
        if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key '{unknown}' (known: {})",
                KEYS.join(", ")
            ));
        }
        let mut statuses = Vec::new();
        match map.get("statuses") {
            None => {}
            Some(Value::Object(m)) => {
                for (name, codes) in m {
                    let at = format!("statuses.{name}");
                    let verdict = verdict_named(name, "statuses")?;
                    let codes = codes
                        .as_array()
                        .ok_or_else(|| format!("{at} must be a list of status codes"))?;
                    for code in codes {
                        let code = code
                            .as_u64()
                            .filter(|c| (100..=599).contains(c))
                            .ok_or_else(|| {
                                format!(
                                    "{at} holds {code}, which is not an HTTP status (100 to 599)"
                                )
                            })?;
                        statuses.push((code as u16, verdict));
                    }
                }
            }
            Some(_) => return Err("statuses must be an object of verdict: [status codes]".into()),
        }
        let errors = match map.get("errors") {
            None => None,
            Some(e) => {
                let at_pointer =
                    pointer(e.get("pointer").unwrap_or(&Value::Null), "errors.pointer")?;
                let verdicts = e
                    .get("verdicts")
                    .and_then(Value::as_object)
                    .ok_or("errors.verdicts must be an object of error code: verdict")?;
                let mut out = Vec::new();
                for (code, name) in verdicts {
                    let name = name
                        .as_str()
                        .ok_or_else(|| format!("errors.verdicts.{code} must be a verdict name"))?;
                    out.push((
                        code.clone(),
                        verdict_named(name, &format!("errors.verdicts.{code}"))?,
                    ));
                }
                Some((at_pointer, out))
            }
        };
        let connected_when = match map.get("connected_when") {
            None => None,
            Some(c) => Some((
                pointer(
                    c.get("pointer").unwrap_or(&Value::Null),
                    "connected_when.pointer",
                )?,
                c.get("equals")
                    .cloned()
                    .ok_or("connected_when.equals is missing")?,
            )),
        };
        let label_pointer = match map.get("label_pointer") {
            None => None,
            Some(p) => Some(pointer(p, "label_pointer")?),
        };
        let expect_json = match map.get("expect_json") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("expect_json must be true or false".into()),
        };
        Ok(Self {
            statuses,
            errors,
            connected_when,
            label_pointer,
            expect_json,
        })
    }
}

impl Plugin for HttpCheck {
    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let parsed = Config::parse(&ctx.config);
        let step = match &parsed {
            Err(why) => Step::Done(config_error(why)),
            Ok(_) => match build_request(&credential, &ctx) {
                Ok(r) => Step::Send(r),
                Err(why) => Step::Done(config_error(why)),
            },
        };
        let config = parsed.unwrap_or(Config {
            statuses: Vec::new(),
            errors: None,
            connected_when: None,
            label_pointer: None,
            expect_json: true,
        });
        (HttpCheck { config }, step)
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, |r| self.verdict(r))
    }
}

fn build_request(credential: &Credential, ctx: &Context) -> Result<Request, &'static str> {
    let method = match ctx
        .config_str("method")
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => return Err("method must be GET, HEAD or POST"),
    };
    let mut url = ctx.config_str("url").ok_or("no url")?.to_owned();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err("url must start with https://");
    }
    let mut request_headers: Vec<(String, String)> = Vec::new();
    let auth = ctx.config.get("auth").ok_or("no auth")?;
    let secret = credential.secret.as_str();
    match auth.get("type").and_then(Value::as_str) {
        Some("bearer") => {
            request_headers.push(("authorization".into(), format!("Bearer {secret}")))
        }
        Some("header") => {
            let name = auth
                .get("name")
                .and_then(Value::as_str)
                .ok_or("auth.name is missing")?;
            let prefix = auth.get("prefix").and_then(Value::as_str).unwrap_or("");
            request_headers.push((name.to_owned(), format!("{prefix}{secret}")));
        }
        Some("basic") => {
            let user = match (
                auth.get("username").and_then(Value::as_str),
                auth.get("username_field").and_then(Value::as_str),
            ) {
                (Some(u), _) => u.to_owned(),
                (None, Some(field)) => credential
                    .field(field)
                    .ok_or("the username field is empty")?
                    .to_owned(),
                (None, None) => String::new(),
            };
            let encoded = byok_plugin_sdk::base64_encode(format!("{user}:{secret}").as_bytes());
            request_headers.push(("authorization".into(), format!("Basic {encoded}")));
        }
        Some("query") => {
            let name = auth
                .get("name")
                .and_then(Value::as_str)
                .ok_or("auth.name is missing")?;
            let sep = if url.contains('?') { '&' } else { '?' };
            let encoded: String = secret
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            url = format!("{url}{sep}{name}={encoded}");
        }
        _ => return Err("auth.type must be bearer, header, basic or query"),
    }
    let mut request = Request::new(method, url);
    match ctx.config.get("headers") {
        None => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                request =
                    request.header(name, value.as_str().ok_or("header values must be strings")?);
            }
        }
        Some(_) => return Err("headers must be an object of name: value"),
    }
    for (name, value) in request_headers {
        request = request.header(&name, &value);
    }
    Ok(request)
}

/// The text (or number) at `pointer` in a JSON body.
fn text_at(r: &Response, pointer: &str) -> Option<String> {
    let v = r.json()?;
    match v.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl HttpCheck {
    fn configured(&self, r: &Response) -> Option<Verdict> {
        if let Some((pointer, verdicts)) = &self.config.errors {
            if let Some(code) = text_at(r, pointer) {
                if let Some((_, v)) = verdicts.iter().find(|(c, _)| *c == code) {
                    return Some(*v);
                }
            }
        }
        self.config
            .statuses
            .iter()
            .find(|(code, _)| *code == r.status)
            .map(|(_, v)| *v)
    }

    fn verdict(&self, r: &Response) -> Outcome {
        let verdict = self
            .configured(r)
            .or_else(|| r.is_success().then_some(Verdict::Connected));
        let reason = || {
            error_message(r)
                .or_else(|| self.config.errors.as_ref().and_then(|(p, _)| text_at(r, p)))
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        };
        match verdict {
            Some(Verdict::Connected) if self.config.expect_json && r.json().is_none() => {
                Outcome::unexpected(format!(
                    "The provider answered HTTP {} but not with JSON: is the URL right?",
                    r.status
                ))
            }
            Some(Verdict::Connected)
                if self
                    .config
                    .connected_when
                    .as_ref()
                    .is_some_and(|(p, want)| {
                        r.json().and_then(|v| v.pointer(p).cloned()).as_ref() != Some(want)
                    }) =>
            {
                Outcome::unexpected(format!(
                    "The provider answered HTTP {} without confirming the key{}",
                    r.status,
                    reason()
                ))
            }
            Some(Verdict::Connected) => {
                let label = self.config.label_pointer.as_deref().and_then(|p| {
                    r.json()
                        .and_then(|v| v.pointer(p).and_then(Value::as_str).map(str::to_owned))
                });
                let o = Outcome::connected(format!("The key works (HTTP {}).", r.status));
                match label {
                    Some(l) => o.with_label(l),
                    None => o,
                }
            }
            // Worded by the verdict, not the status: a refusal sent as a 200 (Mapbox's
            // `TokenInvalid`, Slack's `invalid_auth`) must not read like a success.
            Some(v) => {
                let what = match v {
                    Verdict::InvalidCredential => "The provider rejected the key",
                    Verdict::InsufficientPermission => "The key is valid but lacks a permission",
                    Verdict::RateLimited => "The provider is rate limiting requests",
                    Verdict::ProviderUnavailable => "The provider is unavailable",
                    _ => "Unexpected answer from the provider",
                };
                Outcome::new(v, format!("{what} (HTTP {}){}", r.status, reason()))
            }
            None => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
        }
    }
}

export_plugin!(HttpCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{drive, json};

    #[test]
    fn auth_styles_place_the_secret_as_configured() {
        let cases = [
            (
                json!({"type": "bearer"}),
                "authorization",
                "Bearer s3cret",
                "https://x/me",
            ),
            (
                json!({"type": "header", "name": "X-Api-Key"}),
                "X-Api-Key",
                "s3cret",
                "https://x/me",
            ),
            (
                json!({"type": "query", "name": "api_key"}),
                "",
                "",
                "https://x/me?api_key=s3cret",
            ),
        ];
        for (auth, header, value, url) in cases {
            let ctx = Context::new(json!({"url": "https://x/me", "auth": auth}), 0);
            drive::<HttpCheck>(Credential::new("s3cret"), ctx, 2, |req| {
                assert_eq!(req.url, url);
                if !header.is_empty() {
                    assert!(
                        req.headers.contains(&(header.into(), value.into())),
                        "{:?}",
                        req.headers
                    );
                }
                Ok(Response {
                    status: 200,
                    headers: vec![],
                    body: vec![],
                })
            })
            .expect("done");
        }
    }

    #[test]
    fn configured_statuses_override_the_defaults() {
        let ctx = Context::new(
            json!({"url": "https://x", "auth": {"type": "bearer"}, "statuses": {"invalid-credential": [404]}}),
            0,
        );
        let o = drive::<HttpCheck>(Credential::new("k"), ctx, 2, |_| {
            Ok(Response {
                status: 404,
                headers: vec![],
                body: vec![],
            })
        })
        .expect("done");
        assert_eq!(o.verdict, Verdict::InvalidCredential);
    }

    fn answer(config: Value, status: u16, body: &str) -> Outcome {
        let ctx = Context::new(config, 0);
        let body = body.as_bytes().to_vec();
        drive::<HttpCheck>(Credential::new("k"), ctx, 2, move |_| {
            Ok(Response {
                status,
                headers: vec![],
                body: body.clone(),
            })
        })
        .expect("done")
    }

    #[test]
    fn a_documented_error_code_beats_the_status() {
        let config = json!({"url": "https://x", "auth": {"type": "header", "name": "x-goog-api-key"},
            "errors": {"pointer": "/error/details/0/reason", "verdicts": {"API_KEY_INVALID": "invalid-credential"}}});
        let bad = r#"{"error": {"code": 400, "message": "API key not valid.", "details": [{"reason": "API_KEY_INVALID"}]}}"#;
        let o = answer(config.clone(), 400, bad);
        assert_eq!(o.verdict, Verdict::InvalidCredential);
        assert!(o.message.contains("API key not valid"), "{}", o.message);
        // Another 400 is not read as a refused key.
        let o = answer(config, 400, r#"{"error": {"message": "bad request"}}"#);
        assert_eq!(o.verdict, Verdict::UnexpectedResponse);
    }

    #[test]
    fn a_success_counts_only_when_the_body_confirms_it() {
        let config = json!({"url": "https://x", "auth": {"type": "bearer"},
            "errors": {"pointer": "/error", "verdicts": {"invalid_auth": "invalid-credential"}},
            "connected_when": {"pointer": "/ok", "equals": true}, "label_pointer": "/team"});
        let o = answer(config.clone(), 200, r#"{"ok": true, "team": "Acme"}"#);
        assert_eq!(
            (o.verdict, o.account_label.as_deref()),
            (Verdict::Connected, Some("Acme"))
        );
        let o = answer(
            config.clone(),
            200,
            r#"{"ok": false, "error": "invalid_auth"}"#,
        );
        assert_eq!(o.verdict, Verdict::InvalidCredential);
        assert!(
            o.message
                .starts_with("The provider rejected the key (HTTP 200): invalid_auth"),
            "a refusal reads as one: {}",
            o.message
        );
        let o = answer(config, 200, r#"{"ok": false, "error": "something_else"}"#);
        assert_eq!(o.verdict, Verdict::UnexpectedResponse);
        assert!(o.message.contains("something_else"), "{}", o.message);
    }

    #[test]
    fn a_success_that_is_not_json_is_unexpected_by_default() {
        let config = json!({"url": "https://x", "auth": {"type": "bearer"}});
        assert_eq!(
            answer(config.clone(), 200, "").verdict,
            Verdict::UnexpectedResponse
        );
        assert_eq!(
            answer(config.clone(), 200, "<html>Sign in</html>").verdict,
            Verdict::UnexpectedResponse
        );
        assert_eq!(answer(config, 200, "{}").verdict, Verdict::Connected);
    }

    #[test]
    fn misspelled_verdicts_and_unknown_keys_are_named() {
        for (config, says) in [
            (
                json!({"url": "https://x", "auth": {"type": "bearer"}, "statuses": {"conected": [200]}}),
                "statuses: 'conected' is not a verdict",
            ),
            (
                json!({"url": "https://x", "auth": {"type": "bearer"}, "status": {"connected": [200]}}),
                "unknown key 'status'",
            ),
            (
                json!({"url": "https://x", "auth": {"type": "bearer"}, "statuses": {"connected": [2000]}}),
                "not an HTTP status",
            ),
            (
                json!({"url": "ftp://x", "auth": {"type": "bearer"}}),
                "url must start with https://",
            ),
            (
                json!({"url": "https://x", "auth": {"type": "bearer"}, "errors": {"pointer": "error", "verdicts": {}}}),
                "errors.pointer must be a JSON pointer",
            ),
        ] {
            let ctx = Context::new(config, 0);
            let o = drive::<HttpCheck>(Credential::new("k"), ctx, 2, |_| panic!("no request"))
                .expect("done");
            assert_eq!(o.verdict, Verdict::UnexpectedResponse);
            assert!(o.message.contains(says), "{}", o.message);
        }
    }

    #[test]
    fn a_broken_config_says_so_without_a_request() {
        let ctx = Context::new(json!({"url": "https://x", "auth": {"type": "magic"}}), 0);
        let o = drive::<HttpCheck>(Credential::new("k"), ctx, 2, |_| panic!("no request"))
            .expect("done");
        assert!(o.message.contains("misconfigured"));
    }
}
