//! Anthropic: lists one model, the cheapest authenticated call (no tokens are spent).
//!
//! `GET {base_url}/v1/models?limit=1` with `x-api-key` and `anthropic-version`. Errors come as
//! `{"type": "error", "error": {"type": "authentication_error", "message": "..."}}`:
//! 401 `authentication_error`, 402 `billing_error`, 403 `permission_error`,
//! 429 `rate_limit_error`, 500 `api_error`, 529 `overloaded_error`
//! (<https://docs.claude.com/en/api/errors>). A billing error, or a 400 saying the credit
//! balance is too low or a usage limit is reached, is a state of a valid key that time will not
//! fix: insufficient permission, never a transient verdict.

use byok_plugin_sdk_v2::{
    common_status, error_message, export_plugin_v2, Context, Credential, Hint, Outcome, Plugin,
    Request, Response, Step, TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic;

impl Plugin for Anthropic {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        let key = credential.secret.as_str();
        if key.starts_with("sk-ant-admin") {
            vec!["This is an Admin API key: it manages the organization but cannot call models. Use a regular API key.".into()]
        } else if !key.starts_with("sk-ant-") {
            vec!["Anthropic API keys usually start with sk-ant-.".into()]
        } else {
            Vec::new()
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let url = format!("{}/v1/models?limit=1", ctx.base_url(DEFAULT_BASE_URL));
        let version = ctx.config_str("anthropic_version").unwrap_or(API_VERSION);
        let request = Request::get(url)
            .header("x-api-key", &credential.secret)
            .header("anthropic-version", version);
        (Anthropic, Step::Send(request))
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, verdict)
    }
}

fn verdict(r: &Response) -> Outcome {
    let error_type = r.json().and_then(|v| {
        v.pointer("/error/type")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    match (r.status, error_type.as_deref()) {
        (200, _) if r.json().and_then(|v| v.get("data").cloned()).is_some() => {
            Outcome::connected("The key works: Anthropic listed the available models.")
        }
        (529, _) | (_, Some("overloaded_error")) => Outcome::unavailable(
            "Anthropic is overloaded right now; the key was kept and will be tested again.",
        ),
        (402, _) | (_, Some("billing_error")) => Outcome::insufficient(format!(
            "The key is valid but Anthropic refuses it for billing: {} Check Settings → Billing in the Claude Console.",
            error_message(r).unwrap_or_else(|| "billing error.".into())
        ))
        .hint(Hint::Billing),
        (400, Some("invalid_request_error")) if billing_message(r) => Outcome::insufficient(format!(
            "The key is valid but cannot be used until billing is fixed: {}",
            error_message(r).unwrap_or_default()
        ))
        .hint(Hint::Billing),
        (400, Some("invalid_request_error")) => Outcome::unexpected(format!(
            "Anthropic refused the test request: {}",
            error_message(r).unwrap_or_default()
        )),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

/// A 400 whose message is about money (credit balance, spend or usage limits), not the request.
fn billing_message(r: &Response) -> bool {
    let m = error_message(r).unwrap_or_default().to_ascii_lowercase();
    ["credit balance", "usage limit", "spend limit", "billing"]
        .iter()
        .any(|k| m.contains(k))
}

export_plugin_v2!(Anthropic);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk_v2::{drive, json, Verdict};

    fn run(status: u16, body: &str) -> Outcome {
        let ctx = Context::new(json!({"base_url": "http://127.0.0.1:9/"}), 0);
        drive::<Anthropic>(Credential::new("sk-ant-test"), ctx, 4, |req| {
            assert_eq!(req.url, "http://127.0.0.1:9/v1/models?limit=1");
            assert!(req
                .headers
                .contains(&("x-api-key".into(), "sk-ant-test".into())));
            assert!(req
                .headers
                .contains(&("anthropic-version".into(), API_VERSION.into())));
            Ok(Response {
                status,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            })
        })
        .expect("finishes")
    }

    fn err(kind: &str, message: &str) -> String {
        json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
    }

    #[test]
    fn verdicts_follow_anthropic_errors() {
        let ok = r#"{"data":[{"id":"claude-x","type":"model"}],"has_more":true}"#;
        assert_eq!(run(200, ok).verdict, Verdict::Connected);
        let bad = run(401, &err("authentication_error", "invalid x-api-key"));
        assert_eq!(bad.verdict, Verdict::InvalidCredential);
        assert!(bad.message.contains("invalid x-api-key"));
        assert_eq!(
            run(403, &err("permission_error", "no")).verdict,
            Verdict::InsufficientPermission
        );
        assert_eq!(
            run(429, &err("rate_limit_error", "slow")).verdict,
            Verdict::RateLimited
        );
        assert_eq!(
            run(500, &err("api_error", "oops")).verdict,
            Verdict::ProviderUnavailable
        );
        assert_eq!(
            run(529, &err("overloaded_error", "busy")).verdict,
            Verdict::ProviderUnavailable
        );
        assert_eq!(run(200, "<html>").verdict, Verdict::UnexpectedResponse);
    }

    #[test]
    fn format_check_warns_only() {
        let warn = |k: &str| Anthropic::format_check(&Credential::new(k), &Value::Null);
        assert!(warn("sk-ant-api03-FAKE-test-value").is_empty());
        assert_eq!(warn("sk-proj-xyz").len(), 1);
        assert!(warn("sk-ant-admin01-xyz")[0].contains("Admin API key"));
    }
}
