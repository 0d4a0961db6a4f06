//! Twilio: checks the credentials with a request they are allowed to make.
//!
//! Two kinds of credentials, both HTTP Basic auth:
//! - **Account SID + Auth Token**: `GET {base}/2010-04-01/Accounts/{AccountSid}.json`. The
//!   account's `status` tells a suspended or closed account from an active one.
//! - **API key SID (`SK…`) + secret**: a Standard API key may use every resource *except* the
//!   `/Accounts` and `/Keys` endpoints (<https://www.twilio.com/docs/iam/api-keys/keys-in-console>), so fetching
//!   the account answers 401 for a perfectly good key. The test lists one incoming phone number
//!   instead: `GET {base}/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PageSize=1`,
//!   which also shows whether the account has a number to send from.
//!
//! Credentials belong to one region (US1, IE1, AU1) and work only on that region's host
//! (<https://www.twilio.com/docs/global-infrastructure/using-the-twilio-rest-api-in-a-non-us-region>).
//! The credential's optional `region` picks the host: config `base_url` for US1, and
//! `base_url_ie1` / `base_url_au1` (defaults below) for the others.
//! Errors are `{"code": 20003, "message": "Authenticate", "more_info", "status"}`.

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Outcome, Plugin, Request,
    Response, Step, TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The regional hosts, by region id.
pub const REGIONS: [(&str, &str); 3] = [
    ("us1", DEFAULT_BASE_URL),
    ("ie1", "https://api.dublin.ie1.twilio.com"),
    ("au1", "https://api.sydney.au1.twilio.com"),
];

/// What the credentials are, and so what the answer means.
pub enum Twilio {
    AccountToken,
    ApiKey { region: String },
}

/// The base URL for a region id (`us1` when none), or `None` for an unknown region.
fn region_base<'a>(ctx: &'a Context, region: &str) -> Option<&'a str> {
    let default = REGIONS.iter().find(|(id, _)| *id == region)?.1;
    Some(if region == "us1" {
        ctx.base_url(default)
    } else {
        ctx.config_str(&format!("base_url_{region}"))
            .unwrap_or(default)
            .trim_end_matches('/')
    })
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() > prefix.len() && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Plugin for Twilio {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        let mut w = Vec::new();
        if !credential
            .field("account_sid")
            .is_some_and(|s| s.starts_with("AC"))
        {
            w.push("The Account SID starts with AC.".to_owned());
        }
        if credential
            .field("api_key_sid")
            .is_some_and(|s| !s.starts_with("SK"))
        {
            w.push("An API key SID starts with SK.".to_owned());
        }
        w
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let done = |o: Outcome| (Twilio::AccountToken, Step::Done(o));
        let Some(sid) = credential.field("account_sid").map(str::trim) else {
            return done(Outcome::invalid("The Account SID is missing."));
        };
        if !is_sid(sid, "AC") {
            return done(Outcome::invalid(
                "The Account SID has characters an SID never has: it is AC followed by 32 hex characters.",
            ));
        }
        let region = credential
            .field("region")
            .map_or_else(|| "us1".to_owned(), |r| r.trim().to_ascii_lowercase());
        let Some(base) = region_base(&ctx, &region) else {
            return done(Outcome::invalid(
                "Twilio's regions are us1, ie1 and au1: check the region.",
            ));
        };
        match credential.field("api_key_sid").map(str::trim) {
            Some(key_sid) => {
                if !is_sid(key_sid, "SK") {
                    return done(Outcome::invalid(
                        "The API key SID has characters an SID never has: it is SK followed by 32 hex characters.",
                    ));
                }
                let url = format!(
                    "{base}/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize=1"
                );
                (
                    Twilio::ApiKey { region },
                    Step::Send(Request::get(url).basic(key_sid, &credential.secret)),
                )
            }
            None => {
                let url = format!("{base}/2010-04-01/Accounts/{sid}.json");
                (
                    Twilio::AccountToken,
                    Step::Send(Request::get(url).basic(sid, &credential.secret)),
                )
            }
        }
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, |r| match self {
            Twilio::AccountToken => account_verdict(r),
            Twilio::ApiKey { region } => api_key_verdict(r, region),
        })
    }
}

fn text(r: &Response, pointer: &str) -> Option<String> {
    r.json()?.pointer(pointer)?.as_str().map(str::to_owned)
}

fn account_verdict(r: &Response) -> Outcome {
    match r.status {
        200 => {
            let name = text(r, "/friendly_name").unwrap_or_else(|| "Twilio account".into());
            match text(r, "/status").as_deref() {
                Some("active") => Outcome::connected(format!("The credentials work for {name}."))
                    .with_label(name),
                Some("suspended") => Outcome::insufficient(format!(
                    "The credentials are valid but the account {name} is suspended: check Twilio's console or contact Twilio support."
                ))
                .with_label(name),
                Some("closed") => Outcome::invalid(format!("The account {name} is closed.")),
                _ => Outcome::unexpected_status(r),
            }
        }
        401 => Outcome::invalid(
            "Twilio rejected the credentials (error 20003): check the Account SID, that the Auth Token belongs to it, and the region the account is in.",
        ),
        404 => Outcome::invalid("Twilio has no such account for these credentials: check the Account SID."),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

/// The host scrubs every credential field from what a plugin says, so the Account SID is never
/// repeated: the label names the region and the account's first number instead.
fn api_key_verdict(r: &Response, region: &str) -> Outcome {
    let region = region.to_ascii_uppercase();
    match r.status {
        200 => match r.json().and_then(|v| v.get("incoming_phone_numbers").cloned()) {
            Some(Value::Array(numbers)) => {
                let first = numbers
                    .first()
                    .and_then(|n| n.get("phone_number"))
                    .and_then(Value::as_str);
                let o = Outcome::connected(format!(
                    "The API key works for this account ({region})."
                ));
                match first {
                    Some(number) => o.with_label(format!("Twilio {region} · {number}")),
                    None => o.with_label(format!("Twilio {region} account")).with_warning(
                        "The account has no phone number yet: buy one under Phone Numbers in Twilio's console to send messages.",
                    ),
                }
            }
            _ => Outcome::unexpected_status(r),
        },
        401 => Outcome::invalid(format!(
            "Twilio rejected the API key (error 20003): check the API key SID, that the secret belongs to it, and that the key was created in this Account SID's account and in region {region}."
        )),
        403 => Outcome::insufficient(format!(
            "The API key is valid but may not read the account's phone numbers: {}",
            error_message(r).unwrap_or_else(|| "access denied".into())
        )),
        404 => Outcome::invalid(
            "Twilio has no such account for this API key: check the Account SID.",
        ),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

export_plugin!(Twilio);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{drive, json, Verdict};

    #[test]
    fn an_api_key_lists_a_number_on_its_region_instead_of_fetching_the_account() {
        let cred = Credential::new("secret")
            .with_field("account_sid", "AC123")
            .with_field("api_key_sid", "SK9")
            .with_field("region", "IE1");
        let o = drive::<Twilio>(cred, Context::new(json!({}), 0), 2, |req| {
            assert_eq!(
                req.url,
                "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC123/IncomingPhoneNumbers.json?PageSize=1"
            );
            let expected = format!("Basic {}", byok_plugin_sdk::base64_encode(b"SK9:secret"));
            assert!(req
                .headers
                .iter()
                .any(|(n, v)| n == "authorization" && *v == expected));
            Ok(Response {
                status: 200,
                headers: vec![],
                body: br#"{"incoming_phone_numbers":[],"page":0,"page_size":1}"#.to_vec(),
            })
        })
        .expect("done");
        assert_eq!(o.verdict, Verdict::Connected);
        assert_eq!(o.account_label.as_deref(), Some("Twilio IE1 account"));
        assert!(o.warnings[0].contains("no phone number"));
    }

    #[test]
    fn an_unknown_region_is_refused_before_any_request() {
        let cred = Credential::new("secret")
            .with_field("account_sid", "AC123")
            .with_field("region", "eu9");
        let o = drive::<Twilio>(cred, Context::new(json!({}), 0), 2, |_| {
            panic!("no request")
        })
        .expect("done");
        assert_eq!(o.verdict, Verdict::InvalidCredential);
        assert!(o.message.contains("us1, ie1 and au1"));
    }

    #[test]
    fn a_sid_that_could_alter_the_path_is_refused_before_any_request() {
        let cred = Credential::new("secret").with_field("account_sid", "AC1/../../x");
        let o = drive::<Twilio>(cred, Context::new(json!({}), 0), 2, |_| {
            panic!("no request")
        })
        .expect("done");
        assert_eq!(o.verdict, Verdict::InvalidCredential);
    }
}
