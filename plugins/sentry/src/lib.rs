//! Sentry: lists the organizations the token can read.
//!
//! `GET {base_url}/api/0/organizations/` with the token as a bearer token
//! (https://docs.sentry.io/api/users/list-your-organizations/) answers a JSON array of
//! organizations (`[{"id", "slug", "name", "status": {"id": "active"}, ...}]`); the label is
//! the first organization's name, with how many more the token reaches.
//!
//! Sentry's errors are Django REST Framework's `{"detail": "..."}`: 401 for a wrong, revoked
//! or expired token (`Invalid token`, `Token not found`), 403 for a token without the
//! `org:read` scope. Organization auth tokens (`sntrys_…`) can only be granted `org:ci`
//! (https://docs.sentry.io/api/organizations/create-an-org-auth-token/), so a 403 for one
//! says to use a personal token instead. A 200 that is not an array is unexpected (a login
//! page, a proxy).

use byok_plugin_sdk::{
    common_status, error_message, export_plugin, Context, Credential, Outcome, Plugin, Request,
    Response, Step, TransportError, Value,
};

pub const DEFAULT_BASE_URL: &str = "https://sentry.io";

/// How many organization names the label may hold before it says "and N more".
const LABEL_NAMES: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// `sntryu_…`: a personal (user) auth token.
    Personal,
    /// `sntrys_…`: an organization auth token, `org:ci` only.
    Organization,
    /// 64 hex characters: a token made before Sentry prefixed them.
    Legacy,
    Unknown,
}

fn token_kind(secret: &str) -> TokenKind {
    let s = secret.trim();
    if s.starts_with("sntryu_") {
        TokenKind::Personal
    } else if s.starts_with("sntrys_") {
        TokenKind::Organization
    } else if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        TokenKind::Legacy
    } else {
        TokenKind::Unknown
    }
}

/// Sentry's `{"detail": "..."}`, or any common error shape, capped at 200 characters.
fn detail(r: &Response) -> Option<String> {
    r.json()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| error_message(r))
        .map(|d| d.chars().take(200).collect())
}

pub struct Sentry {
    kind: TokenKind,
}

impl Sentry {
    fn verdict(&self, r: &Response) -> Outcome {
        match r.status {
            200 => match r.json() {
                Some(Value::Array(orgs)) => connected(&orgs),
                _ => Outcome::unexpected_status(r),
            },
            401 => Outcome::invalid(format!(
                "Sentry rejected the token ({}): it is mistyped, revoked or expired. Create a new one under User Settings → Personal Tokens.",
                detail(r).unwrap_or_else(|| "HTTP 401".into())
            )),
            403 if self.kind == TokenKind::Organization => Outcome::insufficient(
                "This is an organization auth token (sntrys_), which Sentry limits to releases and source maps (org:ci): it cannot read organizations. Use a personal token with Organization: Read.",
            ),
            403 => Outcome::insufficient(format!(
                "The token is valid but cannot read organizations ({}): give it the Organization: Read (org:read) scope.",
                detail(r).unwrap_or_else(|| "HTTP 403".into())
            )),
            _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
        }
    }
}

/// A 200 with the organizations the token reaches.
fn connected(orgs: &[Value]) -> Outcome {
    let named: Vec<(&str, &str)> = orgs
        .iter()
        .filter_map(|o| {
            let slug = o.get("slug").and_then(Value::as_str)?;
            let name = o.get("name").and_then(Value::as_str).unwrap_or(slug);
            let status = o
                .pointer("/status/id")
                .and_then(Value::as_str)
                .unwrap_or("active");
            Some((name, status))
        })
        .collect();
    if named.is_empty() {
        return Outcome::connected("The token works, but it reaches no Sentry organization.")
            .with_warning(
                "No organization was listed: make sure the token's user is a member of the organization you want to use.",
            );
    }
    let mut label = named
        .iter()
        .take(LABEL_NAMES)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    if named.len() > LABEL_NAMES {
        let more = named.len() - LABEL_NAMES;
        label.push_str(&format!(
            " (and {more} more organization{})",
            if more == 1 { "" } else { "s" }
        ));
    }
    let mut outcome = Outcome::connected("The token works and can read your Sentry organizations.")
        .with_label(label);
    for (name, status) in named.iter().filter(|(_, s)| *s != "active") {
        outcome = outcome.with_warning(format!(
            "The organization {name} is {}.",
            status.replace('_', " ")
        ));
    }
    outcome
}

impl Plugin for Sentry {
    fn format_check(credential: &Credential, _config: &Value) -> Vec<String> {
        match token_kind(&credential.secret) {
            TokenKind::Personal | TokenKind::Legacy => Vec::new(),
            TokenKind::Organization => vec![
                "This is an organization auth token (sntrys_): Sentry limits those to releases and source maps, so use a personal token (sntryu_) with Organization: Read.".into(),
            ],
            TokenKind::Unknown => vec![
                "Sentry auth tokens start with sntryu_ (personal) or sntrys_ (organization), or are 64 hexadecimal characters (older tokens).".into(),
            ],
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let base = ctx.base_url(DEFAULT_BASE_URL);
        let request = Request::get(format!("{base}/api/0/organizations/"))
            .bearer(credential.secret.trim())
            .header("accept", "application/json");
        (
            Sentry {
                kind: token_kind(&credential.secret),
            },
            Step::Send(request),
        )
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        Step::conclude(response, |r| self.verdict(r))
    }
}

export_plugin!(Sentry);

#[cfg(test)]
mod tests {
    use super::*;
    use byok_plugin_sdk::{drive, json, Verdict};

    fn run(token: &str, status: u16, body: &str) -> Outcome {
        let ctx = Context::new(json!({"base_url": "http://127.0.0.1:9/"}), 0);
        drive::<Sentry>(Credential::new(token), ctx, 2, |req| {
            assert_eq!(req.url, "http://127.0.0.1:9/api/0/organizations/");
            assert!(req
                .headers
                .contains(&("authorization".into(), format!("Bearer {token}"))));
            Ok(Response {
                status,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            })
        })
        .expect("finishes")
    }

    const USER: &str = "sntryu_0123456789abcdef0123456789abcdef";

    #[test]
    fn lists_organizations() {
        let one =
            r#"[{"id":"1","slug":"acme","name":"Acme","status":{"id":"active","name":"active"}}]"#;
        let o = run(USER, 200, one);
        assert_eq!(o.verdict, Verdict::Connected);
        assert_eq!(o.account_label.as_deref(), Some("Acme"));
        assert!(o.warnings.is_empty());

        let three = r#"[{"slug":"a","name":"A"},{"slug":"b","name":"B","status":{"id":"pending_deletion"}},{"slug":"c"}]"#;
        let o = run(USER, 200, three);
        assert_eq!(o.verdict, Verdict::Connected);
        assert_eq!(
            o.account_label.as_deref(),
            Some("A (and 2 more organizations)")
        );
        assert_eq!(
            o.warnings,
            vec!["The organization B is pending deletion.".to_owned()]
        );

        let none = run(USER, 200, "[]");
        assert_eq!(none.verdict, Verdict::Connected);
        assert_eq!(none.account_label, None);
        assert_eq!(none.warnings.len(), 1);
    }

    #[test]
    fn refusals_follow_sentry_errors() {
        let bad = run(USER, 401, r#"{"detail":"Invalid token"}"#);
        assert_eq!(bad.verdict, Verdict::InvalidCredential);
        assert!(bad.message.contains("Invalid token"));
        let scope = run(
            USER,
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#,
        );
        assert_eq!(scope.verdict, Verdict::InsufficientPermission);
        assert!(scope.message.contains("org:read"));
        let org = run("sntrys_eyJpYXQiOjF9_abcdef", 403, r#"{"detail":"x"}"#);
        assert_eq!(org.verdict, Verdict::InsufficientPermission);
        assert!(org.message.contains("personal token"));
        assert_eq!(run(USER, 429, "{}").verdict, Verdict::RateLimited);
        assert_eq!(
            run(USER, 502, "bad gateway").verdict,
            Verdict::ProviderUnavailable
        );
        assert_eq!(
            run(USER, 200, "<html>").verdict,
            Verdict::UnexpectedResponse
        );
        assert_eq!(
            run(USER, 200, r#"{"detail":"x"}"#).verdict,
            Verdict::UnexpectedResponse
        );
    }

    #[test]
    fn format_check_warns_only() {
        let warn = |k: &str| Sentry::format_check(&Credential::new(k), &Value::Null);
        assert!(warn(USER).is_empty());
        assert!(warn("a1".repeat(32).as_str()).is_empty());
        assert_eq!(warn("sntrys_eyJ_abc").len(), 1);
        assert_eq!(warn("sk-something").len(), 1);
    }
}
