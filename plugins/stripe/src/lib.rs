//! Stripe: retrieves the account the key belongs to.
//!
//! `GET {base_url}/v1/account` with the key as Bearer. A restricted key (`rk_`) without the
//! account-read permission gets 403 while being valid: that is `insufficient-permission`, with
//! Stripe's message naming the permission to add. The label says whose account it is and
//! whether the key is for test or live mode (from the key's prefix).

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Outcome, Plugin, Request,
    Response, Step, TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

pub struct Stripe {
    mode: &'static str,
    restricted: bool,
}

impl Plugin for Stripe {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        let k = credential.secret.as_str();
        if k.starts_with("pk_") {
            vec!["This is a publishable key (pk_): it cannot authenticate server calls. Use the secret (sk_) or a restricted (rk_) key.".into()]
        } else if !(k.starts_with("sk_") || k.starts_with("rk_")) {
            vec!["Stripe secret keys start with sk_ and restricted keys with rk_.".into()]
        } else {
            Vec::new()
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let k = credential.secret.as_str();
        let mode = if k.contains("_test_") {
            "test mode"
        } else {
            "live mode"
        };
        let me = Stripe {
            mode,
            restricted: k.starts_with("rk_"),
        };
        let mut request =
            Request::get(format!("{}/v1/account", ctx.base_url(DEFAULT_BASE_URL))).bearer(k);
        if let Some(version) = ctx.config_str("stripe_version") {
            request = request.header("stripe-version", version);
        }
        (me, Step::Send(request))
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, |r| self.verdict(r))
    }
}

impl Stripe {
    fn verdict(&self, r: &Response) -> Outcome {
        match r.status {
            200 => match r.json() {
                Some(account) if account.get("id").is_some() => {
                    let name = account
                        .pointer("/business_profile/name")
                        .or_else(|| account.pointer("/settings/dashboard/display_name"))
                        .and_then(Value::as_str)
                        .or_else(|| account.get("id").and_then(Value::as_str))
                        .unwrap_or("Stripe account");
                    let mut o =
                        Outcome::connected(format!("The key works for {name} ({}).", self.mode))
                            .with_label(format!("{name} ({})", self.mode));
                    if self.mode == "test mode" {
                        o = o.with_warning(
                            "This is a test-mode key: no real payments will be taken.",
                        );
                    }
                    o
                }
                _ => Outcome::unexpected_status(r),
            },
            403 => Outcome::insufficient(format!(
                "The {} key is valid but lacks a permission: {}",
                if self.restricted {
                    "restricted"
                } else {
                    "secret"
                },
                error_message(r).unwrap_or_else(|| "access denied".into())
            )),
            // Stripe's message quotes part of the key.
            401 => Outcome::invalid("Stripe rejected the key: it is mistyped, rolled or deleted."),
            _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
        }
    }
}

export_plugin!(Stripe);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{drive, json, Verdict};

    fn run(key: &str, status: u16, body: Value) -> Outcome {
        drive::<Stripe>(Credential::new(key), Context::new(json!({}), 0), 2, |req| {
            assert_eq!(req.url, "https://api.stripe.com/v1/account");
            Ok(Response {
                status,
                headers: vec![],
                body: body.to_string().into_bytes(),
            })
        })
        .expect("done")
    }

    #[test]
    fn labels_say_whose_account_and_which_mode() {
        let o = run(
            "sk_test_abc",
            200,
            json!({"id": "acct_1", "business_profile": {"name": "Acme Ltd"}}),
        );
        assert_eq!(o.verdict, Verdict::Connected);
        assert_eq!(o.account_label.as_deref(), Some("Acme Ltd (test mode)"));
        let live = run("rk_live_abc", 200, json!({"id": "acct_1"}));
        assert_eq!(live.account_label.as_deref(), Some("acct_1 (live mode)"));
        assert!(live.warnings.is_empty());
    }

    #[test]
    fn a_restricted_key_without_the_permission_is_valid_but_insufficient() {
        let o = run(
            "rk_live_abc",
            403,
            json!({"error": {"message": "Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue.", "type": "invalid_request_error"}}),
        );
        assert_eq!(o.verdict, Verdict::InsufficientPermission);
        assert!(o.message.contains("rak_accounts_kyc_basic_read"));
    }
}
