//! Stripe: retrieves the account the key belongs to.
//!
//! `GET {base_url}/v1/account` with the key as Bearer. The label says whose account it is and
//! whether the key is for test or live mode (from the key's prefix).
//!
//! Restricted keys (`rk_`) are what Stripe recommends for an integration, and one made for
//! "building your own integration" usually lacks the account-read permission, so Stripe answers
//! 403 ("… does not have the required permissions … Having the 'rak_…' permission would allow
//! this request to continue"). Stripe checks the key before its permissions, so that 403
//! proves the key authentic and live: the verdict is **connected, with a warning** naming the
//! permission, not "insufficient permission" (no endpoint is readable by every restricted key,
//! so there is nothing better to probe). Only the permission's name is repeated: Stripe's
//! message also quotes part of the key. A 403 for a full secret key (`sk_`), which holds every
//! permission, is a real refusal: insufficient permission.
//!
//! An entry may ask for one mode (`"require_mode": "live"` or `"test"` in its config): a key
//! that works but is of the other mode is then refused as insufficient, with the `wrong-mode`
//! hint (contract v2), so the user is told to paste a key of the right mode.

use byok_plugin_sdk_v2::{
    common_status, error_message, export_plugin_v2, Context, Credential, Hint, Outcome, Plugin,
    Request, Response, Step, TransportError, Value, Verdict,
};

pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

pub struct Stripe {
    mode: &'static str,
    restricted: bool,
    /// The mode the entry asks for, if any ("live mode" or "test mode").
    required: Option<&'static str>,
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
        let required = match ctx.config_str("require_mode") {
            Some("live") => Some("live mode"),
            Some("test") => Some("test mode"),
            _ => None,
        };
        let me = Stripe {
            mode,
            restricted: k.starts_with("rk_"),
            required,
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
        let outcome = self.answer(r);
        match self.required {
            // Authentic, but of the mode the entry does not take.
            Some(required) if outcome.verdict == Verdict::Connected && required != self.mode => {
                let mut refused = Outcome::insufficient(format!(
                    "The key works but is a {} key, and this platform needs a {required} key: copy the {required} secret key from the Stripe Dashboard (Developers → API keys).",
                    self.mode
                ))
                .hint(Hint::WrongMode);
                refused.account_label = outcome.account_label;
                refused
            }
            _ => outcome,
        }
    }

    fn answer(&self, r: &Response) -> Outcome {
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
            403 if self.restricted => {
                let permission = missing_permission(r);
                let what = permission.as_deref().map_or_else(
                    || "account details".to_owned(),
                    |p| format!("the {p} permission"),
                );
                Outcome::connected(format!(
                    "The restricted key works ({}); it may not read {what}, which this test does not need.",
                    self.mode
                ))
                .with_label(format!("Restricted key ({})", self.mode))
                .with_warning(format!(
                    "Stripe confirmed the key but it lacks {what}, so the account's name is not shown. Make sure it has the permissions your integration uses."
                ))
            }
            403 => Outcome::insufficient(format!(
                "Stripe refused the secret key access to the account{}",
                missing_permission(r)
                    .map_or_else(|| ".".to_owned(), |p| format!(": it lacks {p}."))
            )),
            // Stripe's message quotes part of the key: only its documented code is read.
            401 if error_code(r).as_deref() == Some("api_key_expired") => Outcome::invalid(
                "Stripe says the key has expired: it was rolled with an expiry date. Copy the current key from the Dashboard (Developers → API keys).",
            )
            .hint(Hint::Expired),
            401 => Outcome::invalid("Stripe rejected the key: it is mistyped, rolled or deleted."),
            _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
        }
    }
}

/// Stripe's error `code` (`api_key_expired`, `rate_limit`, ...): a fixed, documented name.
fn error_code(r: &Response) -> Option<String> {
    r.json()?
        .pointer("/error/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The permission Stripe names in a 403 ("Having the 'rak_…' permission would allow …"), and
/// nothing else of the message, which quotes part of the key.
fn missing_permission(r: &Response) -> Option<String> {
    let message = error_message(r)?;
    let start = message.find("'rak_")? + 1;
    let len = message[start..].find('\'')?;
    let name = &message[start..start + len];
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then(|| name.to_owned())
}

export_plugin_v2!(Stripe);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk_v2::{drive, json};

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
    fn a_key_of_the_mode_the_entry_does_not_take_is_refused_as_the_wrong_mode() {
        let account = json!({"id": "acct_1"});
        let live_only = |key: &str, status: u16| {
            drive::<Stripe>(
                Credential::new(key),
                Context::new(json!({"require_mode": "live"}), 0),
                2,
                |_| {
                    Ok(Response {
                        status,
                        headers: vec![],
                        body: account.to_string().into_bytes(),
                    })
                },
            )
            .expect("done")
        };
        let test_key = live_only("sk_test_abc", 200);
        assert_eq!(
            (test_key.verdict, test_key.hint),
            (Verdict::InsufficientPermission, Some(Hint::WrongMode))
        );
        assert!(
            test_key.message.contains("needs a live mode key"),
            "{}",
            test_key.message
        );
        let live_key = live_only("sk_live_FAKE0000", 200);
        assert_eq!(
            (live_key.verdict, live_key.hint),
            (Verdict::Connected, None)
        );
        // A key the provider refuses is refused as such, whatever its mode.
        let refused = live_only("sk_test_abc", 401);
        assert_eq!(
            (refused.verdict, refused.hint),
            (Verdict::InvalidCredential, None)
        );
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
    fn a_restricted_key_without_account_read_is_connected_with_a_warning() {
        let o = run(
            "rk_live_abc",
            403,
            json!({"error": {"message": "The provided key 'rk_live_****9abc' does not have the required permissions for this endpoint on account 'acct_1'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue.", "type": "invalid_request_error"}}),
        );
        assert_eq!(o.verdict, Verdict::Connected);
        assert!(o.warnings[0].contains("rak_accounts_kyc_basic_read"));
        assert!(!o.message.contains("9abc") && !o.warnings[0].contains("9abc"));
        let secret = run("sk_live_FAKE0000", 403, json!({"error": {"message": "no"}}));
        assert_eq!(secret.verdict, Verdict::InsufficientPermission);
    }
}
