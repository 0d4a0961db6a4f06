//! Meta Ads (Graph API): who the token belongs to, then (if given) the ad account.
//!
//! `GET {base_url}/{version}/me?fields=id,name` with `Authorization: Bearer`; then
//! `GET {base_url}/{version}/act_{id}?fields=name,account_status`. Graph errors are
//! `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}` and the HTTP status
//! is not reliable: an invalid token is code 190, sometimes with HTTP 400, sometimes 401.
//! Throttling is codes 4, 17, 32, 613 and 80000-80014; permissions are 10 and 200-299.
//! An ad account the token cannot see answers 400 with code 100 and subcode 33 ("does not
//! exist, cannot be loaded due to missing permissions"): a permission problem of the token.
//! A Graph API version past its end of life answers code 2635: that is the entry's
//! `graph_version`, not the token, so the verdict is inconclusive and says what to change.

use byok_plugin_sdk_v2::{
    export_plugin_v2, Context, Credential, Hint, Outcome, Plugin, Request, Response, Step,
    TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_VERSION: &str = "v27.0";

pub enum MetaAds {
    AwaitingMe {
        base: String,
        token: String,
        ad_account: Option<String>,
    },
    AwaitingAdAccount {
        user: String,
    },
    Finished,
}

impl Plugin for MetaAds {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        let mut w = Vec::new();
        if !credential.secret.starts_with("EAA") {
            w.push("Meta access tokens usually start with EAA.".to_owned());
        }
        if credential.field("ad_account_id").is_some_and(|a| {
            !a.trim_start_matches("act_")
                .bytes()
                .all(|b| b.is_ascii_digit())
        }) {
            w.push("An ad account ID is digits, optionally after act_.".to_owned());
        }
        w
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let version = ctx.config_str("graph_version").unwrap_or(DEFAULT_VERSION);
        let base = format!("{}/{version}", ctx.base_url(DEFAULT_BASE_URL));
        let ad_account = credential
            .field("ad_account_id")
            .map(|a| a.trim().trim_start_matches("act_").to_owned())
            .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
        let request = Request::get(format!("{base}/me?fields=id,name")).bearer(&credential.secret);
        (
            MetaAds::AwaitingMe {
                base,
                token: credential.secret,
                ad_account,
            },
            Step::Send(request),
        )
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        let r = match response {
            Ok(r) => r,
            Err(e) => return Step::Done(Outcome::from_transport(&e)),
        };
        match std::mem::replace(self, MetaAds::Finished) {
            MetaAds::AwaitingMe {
                base,
                token,
                ad_account,
            } => {
                if let Some(o) = graph_error(&r) {
                    return Step::Done(o);
                }
                let user = r
                    .json()
                    .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned));
                let Some(user) = user else {
                    return Step::Done(Outcome::unexpected_status(&r));
                };
                match ad_account {
                    None => Step::Done(
                        Outcome::connected(format!("The token works for {user}."))
                            .with_label(user)
                            .with_warning("No ad account ID was given, so access to ad accounts was not checked."),
                    ),
                    Some(id) => {
                        *self = MetaAds::AwaitingAdAccount { user };
                        let url = format!("{base}/act_{id}?fields=name,account_status");
                        Step::Send(Request::get(url).bearer(&token))
                    }
                }
            }
            MetaAds::AwaitingAdAccount { user } => Step::Done(match graph_error(&r) {
                Some(o) => o,
                None => {
                    let v = r.json().unwrap_or(Value::Null);
                    let name = v
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("the ad account");
                    let status = v.get("account_status").and_then(Value::as_u64).unwrap_or(0);
                    let label = format!("{name} via {user}");
                    match status {
                        1 => Outcome::connected(format!("The token works and can reach {name}.")).with_label(label),
                        2 | 3 | 7 | 8 | 9 | 100 | 101 | 201 | 202 => Outcome::connected(format!("The token works, but {name} is not active (status {status}): ads will not run."))
                            .with_label(label)
                            .with_warning("Check the ad account's status in Ads Manager."),
                        _ => Outcome::unexpected_status(&r),
                    }
                }
            }),
            MetaAds::Finished => Step::Done(Outcome::unexpected("The test was already finished.")),
        }
    }
}

/// Maps a Graph API error body to a verdict, whatever the HTTP status; `None` when the answer
/// is a success.
fn graph_error(r: &Response) -> Option<Outcome> {
    let body = r.json();
    let error = body.as_ref().and_then(|v| v.get("error"));
    let Some(error) = error else {
        return match r.status {
            200..=299 => None,
            _ => Some(
                byok_plugin_sdk_v2::common_status(r)
                    .unwrap_or_else(|| Outcome::unexpected_status(r)),
            ),
        };
    };
    let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
    let subcode = error.get("error_subcode").and_then(Value::as_u64);
    let message: String = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    Some(match (code, subcode) {
        // Meta's message only repeats the account ID.
        (100, Some(33)) => Outcome::insufficient(
            "The token is valid but cannot see this ad account: assign the ad account to the system user (Business settings → System users → Assign assets) or check the ID.",
        ),
        (2635, _) => Outcome::unexpected(format!(
            "Meta no longer serves the Graph API version this test uses: a platform admin must move the Meta Ads entry's graph_version to a supported version. Meta said: {message}"
        )),
        _ => match code {
        190 if subcode == Some(463) => Outcome::invalid(
            "The token has expired: generate a new system-user token (choose Never for the expiry).",
        )
        .hint(Hint::Expired),
        190 => Outcome::invalid(match subcode {
            Some(460) => "The token was invalidated by a password change: generate a new one.".to_owned(),
            _ => format!("Meta rejected the token: {message}"),
        }),
        102 => Outcome::invalid(format!("Meta rejected the session: {message}")),
        4 | 17 | 32 | 613 | 80000..=80014 => Outcome::rate_limited(format!("Meta is throttling requests: {message}")),
        10 | 200..=299 => Outcome::insufficient(format!("The token is valid but lacks a permission: {message}")),
        1 | 2 => Outcome::unavailable(format!("Meta is temporarily unavailable: {message}")),
        _ if r.status >= 500 => Outcome::unavailable(format!("Meta is unavailable (HTTP {}): {message}", r.status)),
        // A 429 from anything in front of the Graph API (an edge proxy) with its own body.
        _ if r.status == 429 => Outcome::rate_limited(format!("Meta is throttling requests (HTTP 429): {message}")),
        _ => Outcome::unexpected(format!("Meta answered with error {code}: {message}")),
        },
    })
}

export_plugin_v2!(MetaAds);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk_v2::{json, Verdict};

    fn err(status: u16, body: Value) -> Option<Verdict> {
        graph_error(&Response {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        })
        .map(|o| o.verdict)
    }

    #[test]
    fn a_429_is_throttling_whatever_its_body_says() {
        let body = json!({"error": {"message": "Too many requests"}});
        assert_eq!(err(429, body), Some(Verdict::RateLimited));
    }

    #[test]
    fn code_190_is_invalid_whatever_the_http_status() {
        for status in [400, 401, 403] {
            assert_eq!(
                err(
                    status,
                    json!({"error": {"code": 190, "message": "Invalid OAuth access token"}})
                ),
                Some(Verdict::InvalidCredential)
            );
        }
        assert_eq!(
            err(
                400,
                json!({"error": {"code": 80004, "message": "too many calls"}})
            ),
            Some(Verdict::RateLimited)
        );
        assert_eq!(
            err(
                403,
                json!({"error": {"code": 200, "message": "(#200) Permissions error"}})
            ),
            Some(Verdict::InsufficientPermission)
        );
        assert_eq!(err(200, json!({"id": "1", "name": "x"})), None);
    }
}
