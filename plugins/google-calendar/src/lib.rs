//! Google Calendar with a service-account key: two steps.
//!
//! 1. Sign an RS256 JWT with the key's private key, using the context's clock for `iat` and
//!    `exp`, and exchange it at the token endpoint (`grant_type=...jwt-bearer`).
//! 2. With the credential's optional `calendar_id`, read that calendar (`calendars.get`): a 404
//!    means it is not shared with the service account (or does not exist), which is
//!    insufficient permission. Without it, read the calendar list (`calendarList.list`). That
//!    list holds the calendars on the account's *UI list*: for a service account it stays empty
//!    even after a user shares a calendar with it, so an empty list proves the key and says
//!    nothing about sharing; the warning asks for a calendar ID instead of claiming none is
//!    shared (<https://developers.google.com/workspace/calendar/api/concepts/events-calendars#calendar_list>).
//!
//! Token endpoint errors are `{"error": "invalid_grant", "error_description": "..."}`; Calendar
//! API errors are `{"error": {"code", "message", "errors": [{"reason"}], "status"}}`.

use byok_plugin_sdk::{
    base64url, common_status, error_message, export_plugin, json, Context, Credential, Outcome,
    Plugin, Request, Response, Step, TransportError, Value,
};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_API_BASE: &str = "https://www.googleapis.com";
pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

#[cfg(target_arch = "wasm32")]
fn no_entropy(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}
#[cfg(target_arch = "wasm32")]
getrandom::register_custom_getrandom!(no_entropy);

pub enum GoogleCalendar {
    AwaitingToken {
        api_base: String,
        email: String,
        calendar_id: Option<String>,
    },
    AwaitingCalendars {
        email: String,
    },
    AwaitingCalendar {
        email: String,
    },
    Finished,
}

/// The parts of a service-account key file the test needs.
struct ServiceAccount {
    email: String,
    key_id: Option<String>,
    private_key: RsaPrivateKey,
    token_uri: Option<String>,
}

fn parse_key(json_text: &str) -> Result<ServiceAccount, String> {
    let v: Value = serde_json_from(json_text)?;
    if v.get("type").and_then(Value::as_str) != Some("service_account") {
        return Err("This is not a service-account key: the JSON's \"type\" must be \"service_account\". Download a key from IAM & Admin → Service accounts → Keys.".into());
    }
    let field = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let email = field("client_email").ok_or("The key has no client_email.")?;
    let pem = field("private_key").ok_or("The key has no private_key.")?;
    let private_key = RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|_| {
        "The key's private_key is not a valid PKCS#8 RSA key: paste the whole file unchanged."
            .to_owned()
    })?;
    Ok(ServiceAccount {
        email,
        key_id: field("private_key_id"),
        private_key,
        token_uri: field("token_uri"),
    })
}

fn serde_json_from(text: &str) -> Result<Value, String> {
    byok_plugin_sdk::serde_json::from_str(text)
        .map_err(|_| "The key is not valid JSON: paste the whole .json file.".to_owned())
}

/// `header.claims.signature`, RS256.
fn signed_jwt(sa: &ServiceAccount, audience: &str, now: u64) -> String {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &sa.key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": sa.email, "scope": SCOPE, "aud": audience, "iat": now, "exp": now + 3600,
    });
    let signing_input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let signature =
        SigningKey::<Sha256>::new(sa.private_key.clone()).sign(signing_input.as_bytes());
    format!("{signing_input}.{}", base64url(&signature.to_bytes()))
}

impl Plugin for GoogleCalendar {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        match serde_json_from(&credential.secret) {
            Ok(v) if v.get("type").and_then(Value::as_str) == Some("service_account") => Vec::new(),
            Ok(_) => vec![
                "This JSON is not a service-account key (its \"type\" is not \"service_account\")."
                    .into(),
            ],
            Err(e) => vec![e],
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let sa = match parse_key(&credential.secret) {
            Ok(sa) => sa,
            Err(why) => return (GoogleCalendar::Finished, Step::Done(Outcome::invalid(why))),
        };
        let token_url = ctx
            .config_str("token_url")
            .map(str::to_owned)
            .or_else(|| sa.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned());
        let jwt = signed_jwt(&sa, &token_url, ctx.now_unix_seconds);
        let request = Request::post(token_url).form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &jwt),
        ]);
        let state = GoogleCalendar::AwaitingToken {
            api_base: ctx
                .config_str("api_base")
                .unwrap_or(DEFAULT_API_BASE)
                .trim_end_matches('/')
                .to_owned(),
            email: sa.email,
            calendar_id: credential.field("calendar_id").map(|c| c.trim().to_owned()),
        };
        (state, Step::Send(request))
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        let r = match response {
            Ok(r) => r,
            Err(e) => {
                *self = GoogleCalendar::Finished;
                return Step::Done(Outcome::from_transport(&e));
            }
        };
        match std::mem::replace(self, GoogleCalendar::Finished) {
            GoogleCalendar::AwaitingToken {
                api_base,
                email,
                calendar_id,
            } => match token_outcome(&r) {
                Ok(token) => {
                    let url = match &calendar_id {
                        Some(id) => format!(
                            "{api_base}/calendar/v3/calendars/{}",
                            byok_plugin_sdk::percent_encode(id)
                        ),
                        None => {
                            format!("{api_base}/calendar/v3/users/me/calendarList?maxResults=10")
                        }
                    };
                    *self = match calendar_id {
                        Some(_) => GoogleCalendar::AwaitingCalendar { email },
                        None => GoogleCalendar::AwaitingCalendars { email },
                    };
                    Step::Send(Request::get(url).bearer(&token))
                }
                Err(outcome) => Step::Done(outcome),
            },
            GoogleCalendar::AwaitingCalendars { email } => {
                Step::Done(calendars_outcome(&r, &email))
            }
            GoogleCalendar::AwaitingCalendar { email } => Step::Done(calendar_outcome(&r, &email)),
            GoogleCalendar::Finished => {
                Step::Done(Outcome::unexpected("The test was already finished."))
            }
        }
    }
}

fn token_outcome(r: &Response) -> Result<String, Outcome> {
    let body = r.json().unwrap_or(Value::Null);
    if r.status == 200 {
        return body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Outcome::unexpected("Google's token answer had no access token."));
    }
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(match (r.status, error) {
        (400, "invalid_grant") if description.contains("iat") || description.contains("timeframe") => {
            Outcome::unexpected(format!("Google refused the token's time window: {description} (is the server clock right?)"))
        }
        (400, "invalid_grant") | (401, "invalid_client") | (401, "unauthorized_client") => Outcome::invalid(format!(
            "Google rejected the service-account key: {description} The key may have been deleted, or the service account disabled."
        )),
        (400, "invalid_scope") => Outcome::insufficient(format!("Google refused the Calendar scope: {description}")),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    })
}

fn calendars_outcome(r: &Response, email: &str) -> Outcome {
    if r.status == 200 {
        return match r.json().and_then(|v| v.get("items").cloned()) {
            Some(Value::Array(items)) if items.is_empty() => Outcome::connected("The key works. Its calendar list is empty, as a service account's usually is even after a calendar is shared with it, so sharing was not checked.")
                .with_label(email.to_owned())
                .with_warning(format!("To check access, enter the calendar's ID (Google Calendar → Settings and sharing → Integrate calendar) and make sure the calendar is shared with {email}.")),
            Some(Value::Array(items)) => Outcome::connected(format!(
                "The key works: {} calendar{} shared with the service account.",
                items.len(),
                if items.len() == 1 { " is" } else { "s are" }
            ))
            .with_label(email.to_owned()),
            _ => Outcome::unexpected_status(r),
        };
    }
    let reason = r
        .json()
        .and_then(|v| {
            v.pointer("/error/errors/0/reason")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    api_error_outcome(r, &reason)
}

/// `calendars.get`: the named calendar, as the service account sees it.
fn calendar_outcome(r: &Response, email: &str) -> Outcome {
    let body = r.json();
    if r.status == 200 {
        return match body
            .as_ref()
            .and_then(|v| v.get("summary"))
            .and_then(Value::as_str)
        {
            Some(summary) => {
                Outcome::connected(format!("The key works and can see the calendar {summary}."))
                    .with_label(email.to_owned())
            }
            None => Outcome::unexpected_status(r),
        };
    }
    let reason = body
        .as_ref()
        .and_then(|v| v.pointer("/error/errors/0/reason"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match r.status {
        404 => Outcome::insufficient(format!(
            "The key works, but the calendar with the ID you entered is not shared with {email} or does not exist: share it (Settings and sharing → Share with specific people) or check the ID."
        ))
        .with_label(email.to_owned()),
        _ => api_error_outcome(r, &reason),
    }
}

/// Calendar API errors every call can get.
fn api_error_outcome(r: &Response, reason: &str) -> Outcome {
    match (r.status, reason) {
        (403, "accessNotConfigured") => Outcome::insufficient(
            "The key works but the Google Calendar API is not enabled in its project: APIs & Services → Library → Google Calendar API → Enable.",
        ),
        (403, "rateLimitExceeded" | "userRateLimitExceeded") => {
            Outcome::rate_limited(error_message(r).unwrap_or_else(|| "Rate limit exceeded".into()))
        }
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

export_plugin!(GoogleCalendar);
