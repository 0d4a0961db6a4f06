//! A declarative connection test: everything comes from the catalog entry's config, so an
//! admin adds a simple provider with data alone.
//!
//! ```json
//! {
//!   "method": "GET",
//!   "url": "https://api.example.com/v1/me",
//!   "auth": {"type": "bearer"},
//!   "headers": {"accept": "application/json"},
//!   "statuses": {"connected": [200], "invalid-credential": [401, 404]},
//!   "label_pointer": "/account/name",
//!   "expect_json": true
//! }
//! ```
//!
//! `auth` is one of `{"type": "bearer"}`, `{"type": "header", "name": "X-Api-Key",
//! "prefix": ""}`, `{"type": "basic", "username": "api"}` or
//! `{"type": "basic", "username_field": "account_sid"}` (the secret is the password), and
//! `{"type": "query", "name": "api_key"}`. `statuses` maps verdicts to status codes and
//! overrides the defaults: 2xx connected, 401 invalid, 403 insufficient permission, 429 rate
//! limited, 5xx unavailable, anything else unexpected. With `expect_json`, a success whose
//! body is not JSON is an unexpected response (a login page, a proxy's error page).

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Method, Outcome, Plugin,
    Request, Response, Step, TransportError, Value, Verdict,
};

pub struct HttpCheck {
    statuses: Value,
    label_pointer: Option<String>,
    expect_json: bool,
}

fn config_error(why: &str) -> Outcome {
    Outcome::unexpected(format!(
        "The provider's test is misconfigured: {why}. Tell the platform admin."
    ))
}

impl Plugin for HttpCheck {
    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let me = HttpCheck {
            statuses: ctx.config.get("statuses").cloned().unwrap_or(Value::Null),
            label_pointer: ctx.config_str("label_pointer").map(str::to_owned),
            expect_json: ctx
                .config
                .get("expect_json")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        let step = match build_request(&credential, &ctx) {
            Ok(r) => Step::Send(r),
            Err(why) => Step::Done(config_error(why)),
        };
        (me, step)
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
    if let Some(Value::Object(headers)) = ctx.config.get("headers") {
        for (name, value) in headers {
            request = request.header(name, value.as_str().ok_or("header values must be strings")?);
        }
    }
    for (name, value) in request_headers {
        request = request.header(&name, &value);
    }
    Ok(request)
}

impl HttpCheck {
    fn configured(&self, status: u16) -> Option<Verdict> {
        let map = self.statuses.as_object()?;
        map.iter()
            .find(|(_, codes)| {
                codes
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c.as_u64() == Some(u64::from(status))))
            })
            .and_then(|(name, _)| match name.as_str() {
                "connected" => Some(Verdict::Connected),
                "invalid-credential" => Some(Verdict::InvalidCredential),
                "insufficient-permission" => Some(Verdict::InsufficientPermission),
                "rate-limited" => Some(Verdict::RateLimited),
                "provider-unavailable" => Some(Verdict::ProviderUnavailable),
                "unexpected-response" => Some(Verdict::UnexpectedResponse),
                _ => None,
            })
    }

    fn verdict(&self, r: &Response) -> Outcome {
        let verdict = self
            .configured(r.status)
            .or_else(|| r.is_success().then_some(Verdict::Connected));
        match verdict {
            Some(Verdict::Connected) if self.expect_json && r.json().is_none() => {
                Outcome::unexpected(format!(
                    "The provider answered HTTP {} but not with JSON: is the URL right?",
                    r.status
                ))
            }
            Some(Verdict::Connected) => {
                let label = self.label_pointer.as_deref().and_then(|p| {
                    r.json()
                        .and_then(|v| v.pointer(p).and_then(Value::as_str).map(str::to_owned))
                });
                let o = Outcome::connected(format!("The key works (HTTP {}).", r.status));
                match label {
                    Some(l) => o.with_label(l),
                    None => o,
                }
            }
            Some(v) => {
                let reason = error_message(r)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                Outcome::new(
                    v,
                    format!("The provider answered HTTP {}{reason}", r.status),
                )
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

    #[test]
    fn a_broken_config_says_so_without_a_request() {
        let ctx = Context::new(json!({"url": "https://x", "auth": {"type": "magic"}}), 0);
        let o = drive::<HttpCheck>(Credential::new("k"), ctx, 2, |_| panic!("no request"))
            .expect("done");
        assert!(o.message.contains("misconfigured"));
    }
}
