//! Twilio: fetches the account with HTTP Basic auth.
//!
//! `GET {base_url}/2010-04-01/Accounts/{AccountSid}.json`, authenticated either with the Account
//! SID and Auth Token, or with an API key SID (`SK...`) and its secret. The account's `status`
//! tells a suspended or closed account from an active one. Errors are
//! `{"code": 20003, "message": "Authenticate", "more_info", "status"}`.

use byok_plugin_sdk::{
    common_status, export_plugin, Context, Credential, Outcome, Plugin, Request, Response, Step,
    TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

pub struct Twilio;

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
        let Some(sid) = credential.field("account_sid") else {
            return (
                Twilio,
                Step::Done(Outcome::invalid("The Account SID is missing.")),
            );
        };
        if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return (
                Twilio,
                Step::Done(Outcome::invalid(
                    "The Account SID has characters an SID never has.",
                )),
            );
        }
        let user = credential.field("api_key_sid").unwrap_or(sid);
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}.json",
            ctx.base_url(DEFAULT_BASE_URL)
        );
        (
            Twilio,
            Step::Send(Request::get(url).basic(user, &credential.secret)),
        )
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, verdict)
    }
}

fn verdict(r: &Response) -> Outcome {
    let body = r.json();
    let text = |p: &str| {
        body.as_ref()
            .and_then(|v| v.pointer(p))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match r.status {
        200 => {
            let name = text("/friendly_name").unwrap_or_else(|| "Twilio account".into());
            match text("/status").as_deref() {
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
            "Twilio rejected the credentials (error 20003): check the Account SID and that the token or API key secret belongs to it.",
        ),
        404 => Outcome::invalid("Twilio has no such account for these credentials: check the Account SID."),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

export_plugin!(Twilio);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{drive, json, Verdict};

    #[test]
    fn an_api_key_authenticates_as_itself_against_the_account() {
        let cred = Credential::new("secret")
            .with_field("account_sid", "AC123")
            .with_field("api_key_sid", "SK9");
        let o = drive::<Twilio>(cred, Context::new(json!({}), 0), 2, |req| {
            assert_eq!(
                req.url,
                "https://api.twilio.com/2010-04-01/Accounts/AC123.json"
            );
            let expected = format!("Basic {}", byok_plugin_sdk::base64_encode(b"SK9:secret"));
            assert!(req
                .headers
                .iter()
                .any(|(n, v)| n == "authorization" && *v == expected));
            Ok(Response {
                status: 200,
                headers: vec![],
                body: br#"{"status":"suspended","friendly_name":"Acme"}"#.to_vec(),
            })
        })
        .expect("done");
        assert_eq!(o.verdict, Verdict::InsufficientPermission);
        assert!(o.message.contains("suspended"));
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
