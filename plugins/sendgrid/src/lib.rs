//! SendGrid: reads the key's scopes.
//!
//! `GET {base_url}/v3/scopes` with Bearer returns `{"scopes": [...]}`. A key without
//! `mail.send` is valid but cannot send email: `insufficient-permission`. Errors are
//! `{"errors": [{"field": null, "message": "authorization required"}]}`.
//!
//! Keys of EU regional subusers work only on `api.eu.sendgrid.com`: the credential's optional
//! `region` (`global` or `eu`) picks config `base_url` or `base_url_eu`.

use byok_plugin_sdk::{
    common_status, export_plugin, Context, Credential, Outcome, Plugin, Request, Response, Step,
    TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";
pub const DEFAULT_EU_BASE_URL: &str = "https://api.eu.sendgrid.com";

pub struct SendGrid {
    required: Vec<String>,
    eu: bool,
}

impl Plugin for SendGrid {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        if credential.secret.starts_with("SG.") {
            Vec::new()
        } else {
            vec!["SendGrid API keys start with SG.".into()]
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let required = ctx
            .config
            .get("required_scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["mail.send".to_owned()]);
        let region = credential
            .field("region")
            .map_or_else(|| "global".to_owned(), |r| r.trim().to_ascii_lowercase());
        let base = match region.as_str() {
            "global" | "us" => ctx.base_url(DEFAULT_BASE_URL),
            "eu" => ctx
                .config_str("base_url_eu")
                .unwrap_or(DEFAULT_EU_BASE_URL)
                .trim_end_matches('/'),
            _ => {
                return (
                    SendGrid {
                        required,
                        eu: false,
                    },
                    Step::Done(Outcome::invalid(
                        "SendGrid's regions are global and eu: check the region.",
                    )),
                )
            }
        };
        let url = format!("{base}/v3/scopes");
        (
            SendGrid {
                required,
                eu: region == "eu",
            },
            Step::Send(Request::get(url).bearer(&credential.secret)),
        )
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::Done(match response {
            Err(e) => Outcome::from_transport(&e),
            Ok(r) if r.status == 200 => match r.json().and_then(|v| v.get("scopes").cloned()) {
                Some(Value::Array(scopes)) => {
                    let have: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                    let missing: Vec<&str> = self
                        .required
                        .iter()
                        .map(String::as_str)
                        .filter(|s| !have.contains(s))
                        .collect();
                    if missing.is_empty() {
                        Outcome::connected("The key works and can send email.")
                    } else {
                        Outcome::insufficient(format!(
                            "The key is valid but lacks {}: edit the key under Settings → API Keys and give Mail Send full access.",
                            missing.join(", ")
                        ))
                    }
                }
                _ => Outcome::unexpected_status(&r),
            },
            Ok(r) if r.status == 401 => Outcome::invalid(format!(
                "SendGrid rejected the key ({}): it is mistyped or deleted{}",
                byok_plugin_sdk::error_message(&r).unwrap_or_else(|| "401".into()),
                if self.eu {
                    ", or it is not an EU subuser's key (leave the region empty for other keys)."
                } else {
                    ". An EU regional subuser's key works only with the region set to eu."
                }
            )),
            Ok(r) => common_status(&r).unwrap_or_else(|| Outcome::unexpected_status(&r)),
        })
    }
}

export_plugin!(SendGrid);
