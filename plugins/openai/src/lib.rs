//! OpenAI: lists models, an authenticated call that spends nothing.
//!
//! `GET {base_url}/v1/models` with `Authorization: Bearer`. Errors are
//! `{"error": {"message", "type", "param", "code"}}`
//! (<https://platform.openai.com/docs/guides/error-codes>). What each answer means:
//! - 429 is two different things. Billing states that time will not fix, whose `code` (or,
//!   when `code` is null, `type`) is `insufficient_quota`, `credit_balance_exhausted`,
//!   `organization_spend_limit_exceeded`, `project_spend_limit_exceeded` or
//!   `organization_usage_limit_exceeded`: the key is valid but cannot serve until billing is
//!   fixed (insufficient permission). Anything else (`rate_limit_exceeded`) is a rate limit.
//! - 401 "Missing scopes: api.model.read": a restricted key without "List models: Read";
//!   401 "IP not authorized": the project's IP allowlist does not include this service. Both
//!   are valid keys that cannot be used from here: insufficient permission, with the fix.
//! - 403 "Country, region, or territory not supported": about where the test ran, not the
//!   key; inconclusive.
//! - 401 `invalid_api_key`: invalid. OpenAI's message quotes part of the key, so ours is used.

use byok_plugin_sdk_v2::{
    common_status, error_message, export_plugin_v2, Context, Credential, Hint, Outcome, Plugin,
    Request, Response, Step, TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

pub struct OpenAi;

impl Plugin for OpenAi {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        if credential.secret.starts_with("sk-") {
            Vec::new()
        } else {
            vec!["OpenAI secret keys usually start with sk- (sk-proj- for project keys).".into()]
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let mut request = Request::get(format!("{}/v1/models", ctx.base_url(DEFAULT_BASE_URL)))
            .bearer(&credential.secret);
        if let Some(org) = credential.field("organization") {
            request = request.header("openai-organization", org);
        }
        if let Some(project) = credential.field("project") {
            request = request.header("openai-project", project);
        }
        (OpenAi, Step::Send(request))
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, verdict)
    }
}

/// The `code`s (or `type`s, when the code is null) of 429s that are billing states.
const BILLING: [&str; 5] = [
    "insufficient_quota",
    "credit_balance_exhausted",
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
];

fn verdict(r: &Response) -> Outcome {
    let body = r.json();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|v| v.pointer(&format!("/error/{name}")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (code, kind) = (field("code"), field("type"));
    let message = error_message(r).unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    let billing = BILLING
        .iter()
        .find(|b| code == **b || (code.is_empty() && kind == **b));
    match r.status {
        200 if body.as_ref().and_then(|v| v.get("data")).is_some() => {
            Outcome::connected("The key works: OpenAI listed the available models.")
        }
        429 if billing.is_some() => Outcome::insufficient(format!(
            "The key is valid but OpenAI refuses it for billing ({}): add credit or raise the spend limit under Settings → Billing (or the project's Limits).",
            billing.copied().unwrap_or("insufficient_quota")
        ))
        .hint(Hint::Billing),
        401 | 403 if lower.contains("missing scopes") => {
            let scopes = message
                .split("Missing scopes:")
                .nth(1)
                .and_then(|rest| rest.split(". ").next())
                .map(str::trim)
                .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b".,_ ".contains(&b)))
                .unwrap_or("api.model.read");
            Outcome::insufficient(format!(
                "The key is valid but restricted: it lacks {scopes}. Edit the key (Settings → API keys) and set List models to Read and Model capabilities to Request."
            ))
            .missing(scopes.split(',').map(str::trim).filter(|s| !s.is_empty()))
        }
        401 | 403 if lower.contains("insufficient permissions") => {
            Outcome::insufficient(format!("The key is valid but restricted: {message}"))
        }
        401 if code == "ip_not_authorized" || (lower.contains("ip") && (lower.contains("allowlist") || lower.contains("not authorized"))) => {
            Outcome::insufficient(
                "The key's project only accepts requests from the addresses on its IP allowlist, and this service's is not one: add it under the project's settings, or remove the allowlist.",
            )
        }
        403 if code == "unsupported_country_region_territory" || lower.contains("country, region, or territory") => {
            Outcome::unexpected(
                "OpenAI refuses requests from the country or region this test ran from, so the key itself was not checked.",
            )
        }
        // OpenAI's own message quotes part of the key; say it in our words.
        401 if code == "invalid_api_key" || lower.contains("incorrect api key") => Outcome::invalid(
            "OpenAI rejected the key: it is mistyped, revoked or belongs to another organization.",
        ),
        401 => Outcome::invalid("OpenAI rejected the key (401)."),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

export_plugin_v2!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk_v2::{json, Verdict};

    fn answer(status: u16, body: Value) -> Outcome {
        verdict(&Response {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        })
    }

    #[test]
    fn quota_and_rate_limit_differ() {
        let quota = answer(
            429,
            json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
        );
        assert_eq!(quota.verdict, Verdict::InsufficientPermission);
        let rate = answer(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        );
        assert_eq!(rate.verdict, Verdict::RateLimited);
    }

    #[test]
    fn the_provider_message_quoting_the_key_is_not_repeated() {
        let o = answer(
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-****abcd.", "code": "invalid_api_key"}}),
        );
        assert_eq!(o.verdict, Verdict::InvalidCredential);
        assert!(!o.message.contains("abcd"));
    }
}
