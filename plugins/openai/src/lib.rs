//! OpenAI: lists models, an authenticated call that spends nothing.
//!
//! `GET {base_url}/v1/models` with `Authorization: Bearer`. Errors are
//! `{"error": {"message", "type", "param", "code"}}`. A 429 means two different things:
//! `insufficient_quota` (no credit left: the key cannot serve until billing is fixed) and
//! `rate_limit_exceeded` (try later). A restricted key without the models scope gets
//! "You have insufficient permissions for this operation. Missing scopes: ...".

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Outcome, Plugin, Request,
    Response, Step, TransportError, Value,
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

fn verdict(r: &Response) -> Outcome {
    let body = r.json();
    let code = body
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/code")
                .or_else(|| v.pointer("/error/type"))
        })
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let message = error_message(r).unwrap_or_default();
    match r.status {
        200 if body.as_ref().and_then(|v| v.get("data")).is_some() => {
            Outcome::connected("The key works: OpenAI listed the available models.")
        }
        429 if code == "insufficient_quota" => Outcome::insufficient(
            "The key is valid but the OpenAI account has no quota left: add credit or raise the limit under Settings → Billing.",
        ),
        401 | 403 if message.contains("insufficient permissions") => Outcome::insufficient(format!(
            "The key is valid but restricted: {message}"
        )),
        // OpenAI's own message quotes part of the key; say it in our words.
        401 if code == "invalid_api_key" => Outcome::invalid(
            "OpenAI rejected the key: it is mistyped, revoked or belongs to another organization.",
        ),
        _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
    }
}

export_plugin!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{json, Verdict};

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
