//! The conformance suite: what a connection test must answer before an entry may use it.
//!
//! An entry's **fixtures** are documented provider answers (status, headers, body), each with
//! the page it comes from and the verdict the test must reach on it. To them the host adds
//! **its own cases**, the same for every provider: a rate limit is `rate-limited`, a 5xx or a
//! timeout is `provider-unavailable` (never a refused key), and an answer that is not what a
//! provider sends (an HTML login page, an empty body, a bare 401) is never `connected`. Every
//! case also requires that the outcome does not carry the key and that the plugin sends no
//! request outside the entry's egress rules.
//!
//! This module decides: which cases there are ([`suite`]), whether fixtures are acceptable for
//! an entry ([`check`]), what a case answers to the n-th request ([`Case::answer`]) and whether
//! what a run concluded passes ([`judge`]). Running plugins is the host's (`plugin-host`'s
//! `conformance`), so the same decisions hold in the CLI, in CI and in the Worker's upload.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogEntry, FieldError, Rule, ValidationErrors};
use crate::status::Verdict;

/// At most this many fixture cases per entry.
pub const MAX_CASES: usize = 32;
/// At most this many answers in one case (a test of several requests).
pub const MAX_ANSWERS: usize = 8;
/// At most this many bytes in one answer's body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// At most this many bytes of fixtures in all, as JSON.
pub const MAX_TOTAL_BYTES: usize = 96 * 1024;
/// The shortest made-up secret a fixture may use: shorter ones could not be told apart from
/// ordinary words when the host looks for the key in what a plugin says.
pub const MIN_SECRET_LEN: usize = 8;

/// An entry's documented answers (`fixtures.json` beside `entry.json`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// When the cited pages were last read against these answers (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    /// A made-up credential of the right shape, by field name (`api_key`, or `key` for an
    /// entry without declared fields). Every case runs with it.
    pub credential: BTreeMap<String, String>,
    pub cases: Vec<FixtureCase>,
}

/// One documented answer and the verdict it must produce.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCase {
    /// What the case shows, in words ("a wrong key is refused").
    pub name: String,
    /// The provider's page the answer comes from (`https://`).
    pub source: String,
    /// A keyword: the loopback fakes serve this case to a credential that contains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// What the provider answers to the test's first, second... request (the last repeats).
    pub answers: Vec<Answer>,
    pub expect: Expect,
}

/// A provider's answer as data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[cfg_attr(feature = "openapi", schema(minimum = 100, maximum = 599))]
    pub status: u16,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON (sent as `application/json` unless a header says otherwise) or a string (sent as
    /// it is, `text/plain` by default). Absent: an empty body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl Answer {
    pub fn new(status: u16, body: Option<serde_json::Value>) -> Self {
        Self {
            status,
            headers: BTreeMap::new(),
            body,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The body's bytes: a string as it is, other JSON serialised.
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            None => Vec::new(),
            Some(serde_json::Value::String(s)) => s.clone().into_bytes(),
            Some(v) => v.to_string().into_bytes(),
        }
    }

    /// The headers, with a `content-type` that fits the body when the case gives none.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        if !out.iter().any(|(n, _)| n == "content-type") {
            let kind = match &self.body {
                None => None,
                Some(serde_json::Value::String(_)) => Some("text/plain; charset=utf-8"),
                Some(_) => Some("application/json"),
            };
            if let Some(kind) = kind {
                out.push(("content-type".to_owned(), kind.to_owned()));
            }
        }
        out
    }
}

/// What a run must conclude on a fixture case.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub verdict: Verdict,
    /// The account label the outcome must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Text the outcome's message must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub says: Option<String>,
}

/// What the test's n-th request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    Answer(Answer),
    /// No answer before the deadline.
    Timeout,
}

/// What a case requires of the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Must {
    Be(Verdict),
    /// Anything but this verdict (an HTML page may be "unexpected" or "invalid", never
    /// "connected").
    NotBe(Verdict),
}

impl Must {
    pub fn holds(self, got: Verdict) -> bool {
        match self {
            Must::Be(v) => got == v,
            Must::NotBe(v) => got != v,
        }
    }
}

impl fmt::Display for Must {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Must::Be(v) => write!(f, "{}", verdict_name(*v)),
            Must::NotBe(v) => write!(f, "anything but {}", verdict_name(*v)),
        }
    }
}

/// Where a case comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The entry's fixtures, citing this page.
    Fixture { source: String },
    /// The host's own cases, the same for every provider.
    Host,
}

/// One case of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub origin: Origin,
    script: Vec<Scripted>,
    pub must: Must,
    pub label: Option<String>,
    pub says: Option<String>,
}

impl Case {
    /// What request number `n` (from 0) gets: the case's n-th answer, the last one repeating.
    pub fn answer(&self, n: usize) -> &Scripted {
        let last = self.script.len().saturating_sub(1);
        &self.script[n.min(last)]
    }

    fn host(name: &str, script: Scripted, must: Must) -> Self {
        Self {
            name: name.to_owned(),
            origin: Origin::Host,
            script: vec![script],
            must,
            label: None,
            says: None,
        }
    }
}

/// The kebab-case name of a verdict, as in the contract and the fixtures.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Connected => "connected",
        Verdict::InvalidCredential => "invalid-credential",
        Verdict::InsufficientPermission => "insufficient-permission",
        Verdict::RateLimited => "rate-limited",
        Verdict::ProviderUnavailable => "provider-unavailable",
        Verdict::UnexpectedResponse => "unexpected-response",
    }
}

/// The host's cases: what every provider's test must get right, whatever the provider.
pub fn host_cases() -> Vec<Case> {
    use Verdict::*;
    let json_error = |status| {
        Answer::new(
            status,
            Some(serde_json::json!({"error": {"message": "Something went wrong"}})),
        )
    };
    vec![
        Case::host(
            "a 429 is rate-limited",
            Scripted::Answer(
                Answer::new(
                    429,
                    Some(serde_json::json!({"error": {"message": "Too many requests"}})),
                )
                .header("retry-after", "30"),
            ),
            Must::Be(RateLimited),
        ),
        Case::host(
            "a 500 is provider-unavailable",
            Scripted::Answer(json_error(500)),
            Must::Be(ProviderUnavailable),
        ),
        Case::host(
            "a 503 with a text body is provider-unavailable",
            Scripted::Answer(Answer::new(
                503,
                Some(serde_json::Value::String("Service Unavailable".to_owned())),
            )),
            Must::Be(ProviderUnavailable),
        ),
        Case::host(
            "a timeout is provider-unavailable",
            Scripted::Timeout,
            Must::Be(ProviderUnavailable),
        ),
        Case::host(
            "an HTML login page is never connected",
            Scripted::Answer(
                Answer::new(
                    200,
                    Some(serde_json::Value::String(
                        "<!doctype html><html><head><title>Sign in</title></head><body><form action=\"/login\" method=\"post\"><input name=\"email\"><input type=\"password\" name=\"password\"><button>Sign in</button></form></body></html>".to_owned(),
                    )),
                )
                .header("content-type", "text/html; charset=utf-8"),
            ),
            Must::NotBe(Connected),
        ),
        Case::host(
            "an empty 200 is never connected",
            Scripted::Answer(Answer::new(200, None)),
            Must::NotBe(Connected),
        ),
        Case::host(
            "a 401 is never connected",
            Scripted::Answer(json_error(401)),
            Must::NotBe(Connected),
        ),
        Case::host(
            "a 403 without a body is never connected",
            Scripted::Answer(Answer::new(403, None)),
            Must::NotBe(Connected),
        ),
    ]
}

/// Every case an entry's test must pass: its fixtures' (in order), then the host's.
pub fn suite(fixtures: &Fixtures) -> Vec<Case> {
    fixtures
        .cases
        .iter()
        .map(|c| Case {
            name: c.name.clone(),
            origin: Origin::Fixture {
                source: c.source.clone(),
            },
            script: c.answers.iter().cloned().map(Scripted::Answer).collect(),
            must: Must::Be(c.expect.verdict),
            label: c.expect.label.clone(),
            says: c.expect.says.clone(),
        })
        .chain(host_cases())
        .collect()
}

/// What a run concluded, as the judge needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed<'a> {
    Outcome {
        verdict: Verdict,
        message: &'a str,
        label: Option<&'a str>,
        /// Whether the plugin's text held the secret in some encoding (the host scrubbed it).
        echoed_secret: bool,
    },
    /// The run ended without a verdict: the host's words (a fault, a refused request).
    Fault(&'a str),
}

/// Why a case failed, in words an author can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseFailure {
    Verdict {
        must: Must,
        got: Verdict,
        message: String,
    },
    Label {
        want: String,
        got: Option<String>,
    },
    Says {
        want: String,
        message: String,
    },
    EchoedSecret,
    Fault(String),
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseFailure::Verdict { must, got, message } => write!(
                f,
                "must be {must}, got {} (\"{message}\")",
                verdict_name(*got)
            ),
            CaseFailure::Label { want, got } => match got {
                Some(got) => write!(f, "the account label must be \"{want}\", got \"{got}\""),
                None => write!(f, "the account label must be \"{want}\", got none"),
            },
            CaseFailure::Says { want, message } => {
                write!(f, "the message must contain \"{want}\", got \"{message}\"")
            }
            CaseFailure::EchoedSecret => f.write_str(
                "the outcome repeats the key (in some encoding): never put the credential in a message, label or warning",
            ),
            CaseFailure::Fault(why) => write!(f, "the run failed: {why}"),
        }
    }
}

/// Whether what a run concluded passes `case`.
pub fn judge(case: &Case, observed: &Observed<'_>) -> Result<(), CaseFailure> {
    let (verdict, message, label, echoed) = match observed {
        Observed::Fault(why) => return Err(CaseFailure::Fault((*why).to_owned())),
        Observed::Outcome {
            verdict,
            message,
            label,
            echoed_secret,
        } => (*verdict, *message, *label, *echoed_secret),
    };
    if echoed {
        return Err(CaseFailure::EchoedSecret);
    }
    if !case.must.holds(verdict) {
        return Err(CaseFailure::Verdict {
            must: case.must,
            got: verdict,
            message: message.to_owned(),
        });
    }
    if let Some(want) = &case.label {
        if label != Some(want.as_str()) {
            return Err(CaseFailure::Label {
                want: want.clone(),
                got: label.map(str::to_owned),
            });
        }
    }
    if let Some(want) = &case.says {
        if !message.contains(want.as_str()) {
            return Err(CaseFailure::Says {
                want: want.clone(),
                message: message.to_owned(),
            });
        }
    }
    Ok(())
}

/// The credential a suite runs with, split as a run takes it: the main secret (the entry's
/// first secret field) and every other field by name, in form order.
pub fn run_credential(
    entry: &CatalogEntry,
    fixtures: &Fixtures,
) -> (String, Vec<(String, String)>) {
    let form = entry.credential_fields();
    let main = form.iter().position(|f| f.secret).unwrap_or(0);
    let mut secret = String::new();
    let mut fields = Vec::new();
    for (i, field) in form.iter().enumerate() {
        let Some(value) = fixtures.credential.get(&field.name) else {
            continue;
        };
        if i == main {
            secret = value.clone();
        } else {
            fields.push((field.name.clone(), value.clone()));
        }
    }
    (secret, fields)
}

/// Every way `fixtures` cannot serve as `entry`'s (errors name fields under `fixtures`).
pub fn check(entry: &CatalogEntry, fixtures: &Fixtures) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut push = |field: String, rule: Rule, message: String| {
        errors.push(FieldError {
            field,
            rule,
            message,
        })
    };
    let size = serde_json::to_string(fixtures).map_or(usize::MAX, |s| s.len());
    if size > MAX_TOTAL_BYTES {
        push(
            "fixtures".into(),
            Rule::Length,
            format!("must be at most {MAX_TOTAL_BYTES} bytes of JSON (got {size})"),
        );
    }
    // The credential: the form's fields, required ones present, each of the usual shape.
    let form = entry.credential_fields();
    for name in fixtures.credential.keys() {
        if !form.iter().any(|f| &f.name == name) {
            push(
                format!("fixtures.credential.{name}"),
                Rule::Format,
                format!(
                    "is not a field of this entry (its fields: {})",
                    form.iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let main = form.iter().position(|f| f.secret).unwrap_or(0);
    for (i, field) in form.iter().enumerate() {
        let path = format!("fixtures.credential.{}", field.name);
        match fixtures.credential.get(&field.name) {
            None if field.required => push(
                path,
                Rule::Required,
                "is required: give a made-up value of the right shape".into(),
            ),
            None => {}
            Some(value) => {
                if i == main && value.chars().count() < MIN_SECRET_LEN {
                    push(
                        path.clone(),
                        Rule::Length,
                        format!("must be at least {MIN_SECRET_LEN} characters, so the host can tell it apart in what the plugin says"),
                    );
                }
                let matches = field
                    .pattern
                    .as_deref()
                    .is_none_or(|p| regex_lite::Regex::new(p).is_ok_and(|re| re.is_match(value)));
                if !matches {
                    push(
                        path,
                        Rule::Format,
                        format!(
                            "does not match the field's pattern {}: the suite's key must have the right shape, so that only the provider's answer refuses it",
                            field.pattern.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
    if fixtures.cases.len() > MAX_CASES {
        push(
            "fixtures.cases".into(),
            Rule::Count,
            format!(
                "must have at most {MAX_CASES} items (got {})",
                fixtures.cases.len()
            ),
        );
    }
    let mut keywords = std::collections::BTreeSet::new();
    for (i, case) in fixtures.cases.iter().enumerate() {
        let at = |part: &str| format!("fixtures.cases[{i}].{part}");
        if case.name.trim().is_empty() || case.name.chars().count() > 120 {
            push(
                at("name"),
                Rule::Length,
                "must be 1 to 120 characters".into(),
            );
        }
        let https = url::Url::parse(&case.source)
            .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
        if !https {
            push(
                at("source"),
                Rule::HttpsUrl,
                "must be the https:// address of the provider's page this answer comes from".into(),
            );
        }
        if let Some(kw) = &case.when {
            let ok = !kw.is_empty()
                && kw.len() <= 32
                && kw
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                push(
                    at("when"),
                    Rule::Format,
                    "must be 1 to 32 lowercase letters, digits or hyphens".into(),
                );
            } else if !keywords.insert(kw.as_str()) {
                push(
                    at("when"),
                    Rule::Unique,
                    format!("'{kw}' is used by another case"),
                );
            }
        }
        if case.answers.is_empty() || case.answers.len() > MAX_ANSWERS {
            push(
                at("answers"),
                Rule::Count,
                format!("must have 1 to {MAX_ANSWERS} answers"),
            );
        }
        for (j, answer) in case.answers.iter().enumerate() {
            let at = |part: &str| format!("fixtures.cases[{i}].answers[{j}].{part}");
            if !(100..=599).contains(&answer.status) {
                push(
                    at("status"),
                    Rule::Format,
                    "must be an HTTP status (100 to 599)".into(),
                );
            }
            if answer.body_bytes().len() > MAX_BODY_BYTES {
                push(
                    at("body"),
                    Rule::Length,
                    format!("must be at most {MAX_BODY_BYTES} bytes"),
                );
            }
            let bad_header = answer.headers.iter().any(|(n, v)| {
                n.is_empty()
                    || !n.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                    || v.bytes().any(|b| b == b'\r' || b == b'\n')
            });
            if answer.headers.len() > 16 || bad_header {
                push(
                    at("headers"),
                    Rule::Format,
                    "must be at most 16 headers with plain names and single-line values".into(),
                );
            }
        }
    }
    let refused = fixtures
        .cases
        .iter()
        .any(|c| c.expect.verdict == Verdict::InvalidCredential);
    if !refused {
        push(
            "fixtures.cases".into(),
            Rule::Required,
            "no case shows a fake key refused: add the provider's documented answer to a wrong key (its 401 or 403 body, with the page it is on) expecting invalid-credential".into(),
        );
    }
    let passes = fixtures
        .cases
        .iter()
        .any(|c| c.expect.verdict == Verdict::Connected);
    if !passes {
        push(
            "fixtures.cases".into(),
            Rule::Required,
            "no case shows a working key: add the provider's documented success answer expecting connected".into(),
        );
    }
    errors
}

/// [`check`] as a `Result`.
pub fn validate(entry: &CatalogEntry, fixtures: &Fixtures) -> Result<(), ValidationErrors> {
    let errors = check(entry, fixtures);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// The result of one case.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    pub name: String,
    /// The page a fixture case cites; absent for the host's cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the case requires.
    pub must: String,
    /// What the run concluded: a verdict, or `fault`.
    pub got: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl CaseResult {
    pub fn new(case: &Case, observed: &Observed<'_>) -> Self {
        Self {
            name: case.name.clone(),
            source: match &case.origin {
                Origin::Fixture { source } => Some(source.clone()),
                Origin::Host => None,
            },
            must: case.must.to_string(),
            got: match observed {
                Observed::Outcome { verdict, .. } => verdict_name(*verdict).to_owned(),
                Observed::Fault(_) => "fault".to_owned(),
            },
            failure: judge(case, observed).err().map(|f| f.to_string()),
        }
    }

    /// A case left unrun because case `by` spent the plugin's whole budget.
    pub fn not_run(case: &Case, by: &str) -> Self {
        Self {
            name: case.name.clone(),
            source: match &case.origin {
                Origin::Fixture { source } => Some(source.clone()),
                Origin::Host => None,
            },
            must: case.must.to_string(),
            got: "not-run".to_owned(),
            failure: Some(format!(
                "not run: case '{by}' used up the plugin's fuel or memory"
            )),
        }
    }

    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// A suite's results, and the words for a refused upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuiteReport {
    pub cases: Vec<CaseResult>,
}

impl SuiteReport {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(CaseResult::passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| !c.passed())
    }

    /// One sentence per failed case: "case 'a wrong key is refused': must be
    /// invalid-credential, got connected (...)".
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .failures()
            .map(|c| {
                format!(
                    "case '{}': {}",
                    c.name,
                    c.failure.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if failed.is_empty() {
            format!("all {} cases passed", self.cases.len())
        } else {
            format!(
                "{} of {} cases failed: {}",
                failed.len(),
                self.cases.len(),
                failed.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProviderKey;
    use proptest::prelude::*;
    use serde_json::json;

    fn entry() -> CatalogEntry {
        CatalogEntry::from_json(
            ProviderKey::parse("acme").expect("key"),
            &json!({
                "name": "Acme", "description": "d", "auth_type": "api-key",
                "credential_label": "API key", "help_url": "https://acme.example/keys",
                "credential_fields": [
                    {"name": "api_key", "label": "API key", "secret": true, "pattern": "^ak_[a-z0-9]{16,}$"},
                    {"name": "region", "label": "Region", "secret": false, "required": false}
                ]
            })
            .to_string(),
        )
        .expect("entry")
    }

    fn fixtures() -> Fixtures {
        serde_json::from_value(json!({
            "credential": {"api_key": "ak_fake0000000000000000"},
            "cases": [
                {"name": "a wrong key is refused", "source": "https://acme.example/docs/errors",
                 "when": "badkey",
                 "answers": [{"status": 401, "body": {"error": "invalid_api_key"}}],
                 "expect": {"verdict": "invalid-credential"}},
                {"name": "a working key", "source": "https://acme.example/docs/me", "when": "valid",
                 "answers": [{"status": 200, "body": {"name": "Acme Inc"}}],
                 "expect": {"verdict": "connected", "label": "Acme Inc"}}
            ]
        }))
        .expect("fixtures")
    }

    fn rules(errors: &[FieldError]) -> Vec<(String, Rule)> {
        errors.iter().map(|e| (e.field.clone(), e.rule)).collect()
    }

    #[test]
    fn good_fixtures_pass_the_check() {
        assert_eq!(check(&entry(), &fixtures()), []);
    }

    #[test]
    fn fixtures_without_a_refused_fake_key_are_refused() {
        let mut f = fixtures();
        f.cases.remove(0);
        let errors = check(&entry(), &f);
        assert_eq!(rules(&errors), [("fixtures.cases".into(), Rule::Required)]);
        assert!(errors[0].message.contains("fake key refused"), "{errors:?}");
    }

    #[test]
    fn fixtures_without_a_working_key_are_refused() {
        let mut f = fixtures();
        f.cases.remove(1);
        let errors = check(&entry(), &f);
        assert!(errors[0].message.contains("working key"), "{errors:?}");
    }

    #[test]
    fn the_credential_must_fit_the_form() {
        let mut f = fixtures();
        f.credential
            .insert("api_key".into(), "sk-wrong-shape".into());
        f.credential.insert("org".into(), "x".into());
        assert_eq!(
            rules(&check(&entry(), &f)),
            [
                ("fixtures.credential.org".into(), Rule::Format),
                ("fixtures.credential.api_key".into(), Rule::Format),
            ]
        );
        f.credential.clear();
        assert_eq!(
            rules(&check(&entry(), &f)),
            [("fixtures.credential.api_key".into(), Rule::Required)]
        );
    }

    #[test]
    fn cases_cite_https_sources_and_use_distinct_keywords() {
        let mut f = fixtures();
        f.cases[0].source = "docs".into();
        f.cases[1].when = Some("badkey".into());
        f.cases[1].answers[0].status = 700;
        assert_eq!(
            rules(&check(&entry(), &f)),
            [
                ("fixtures.cases[0].source".into(), Rule::HttpsUrl),
                ("fixtures.cases[1].when".into(), Rule::Unique),
                ("fixtures.cases[1].answers[0].status".into(), Rule::Format),
            ]
        );
    }

    #[test]
    fn misspelled_verdicts_do_not_parse() {
        let mut v = serde_json::to_value(fixtures()).expect("json");
        v["cases"][0]["expect"]["verdict"] = json!("invalid");
        let err = serde_json::from_value::<Fixtures>(v).expect_err("refused");
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn the_suite_is_the_fixtures_then_the_host_cases() {
        let s = suite(&fixtures());
        assert_eq!(s.len(), 2 + host_cases().len());
        assert_eq!(s[0].must, Must::Be(Verdict::InvalidCredential));
        assert!(matches!(s[2].origin, Origin::Host));
        // The host never lets a rate limit, an outage or a timeout read as a refused key.
        for c in host_cases() {
            assert!(!c.must.holds(Verdict::Connected), "{}", c.name);
            if let Must::Be(v) = c.must {
                assert_ne!(v, Verdict::InvalidCredential, "{}", c.name);
            }
        }
    }

    #[test]
    fn answers_repeat_the_last_one() {
        let mut f = fixtures();
        f.cases[1].answers.push(Answer::new(204, None));
        let case = &suite(&f)[1];
        assert_eq!(
            case.answer(0),
            &Scripted::Answer(f.cases[1].answers[0].clone())
        );
        assert_eq!(case.answer(1), &Scripted::Answer(Answer::new(204, None)));
        assert_eq!(case.answer(9), case.answer(1));
    }

    #[test]
    fn a_401_mapped_to_connected_fails_the_fake_key_case_in_words() {
        let case = &suite(&fixtures())[0];
        let failure = judge(
            case,
            &Observed::Outcome {
                verdict: Verdict::Connected,
                message: "The key works (HTTP 401).",
                label: None,
                echoed_secret: false,
            },
        )
        .expect_err("fails");
        assert_eq!(
            failure.to_string(),
            "must be invalid-credential, got connected (\"The key works (HTTP 401).\")"
        );
    }

    #[test]
    fn labels_messages_leaks_and_faults_are_judged() {
        let s = suite(&fixtures());
        let ok = |label| Observed::Outcome {
            verdict: Verdict::Connected,
            message: "ok",
            label,
            echoed_secret: false,
        };
        assert_eq!(judge(&s[1], &ok(Some("Acme Inc"))), Ok(()));
        assert!(matches!(
            judge(&s[1], &ok(None)),
            Err(CaseFailure::Label { .. })
        ));
        let leak = Observed::Outcome {
            verdict: Verdict::Connected,
            message: "ok",
            label: Some("Acme Inc"),
            echoed_secret: true,
        };
        assert_eq!(judge(&s[1], &leak), Err(CaseFailure::EchoedSecret));
        let fault = Observed::Fault("the plugin asked to reach https://evil.example");
        assert!(judge(&s[1], &fault)
            .expect_err("fails")
            .to_string()
            .contains("evil.example"));
    }

    #[test]
    fn the_run_credential_is_the_main_secret_and_the_other_fields() {
        let mut f = fixtures();
        f.credential.insert("region".into(), "eu".into());
        let (secret, fields) = run_credential(&entry(), &f);
        assert_eq!(secret, "ak_fake0000000000000000");
        assert_eq!(fields, [("region".to_owned(), "eu".to_owned())]);
    }

    #[test]
    fn the_report_says_which_case_failed_and_why() {
        let s = suite(&fixtures());
        let results: Vec<CaseResult> = s
            .iter()
            .map(|c| {
                CaseResult::new(
                    c,
                    &Observed::Outcome {
                        verdict: Verdict::Connected,
                        message: "The key works (HTTP 401).",
                        label: Some("Acme Inc"),
                        echoed_secret: false,
                    },
                )
            })
            .collect();
        let report = SuiteReport { cases: results };
        assert!(!report.passed());
        let summary = report.summary();
        assert!(
            summary.starts_with(&format!("{} of {} cases failed", s.len() - 1, s.len())),
            "{summary}"
        );
        assert!(
            summary.contains(
                "case 'a wrong key is refused': must be invalid-credential, got connected"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("case 'a 401 is never connected': must be anything but connected"),
            "{summary}"
        );
    }

    proptest! {
        /// Whatever the fixtures say, the host's cases are in the suite and unchanged: no
        /// entry can declare its way out of them.
        #[test]
        fn fixtures_cannot_remove_the_host_cases(n in 0usize..6, verdict in 0usize..6) {
            let verdicts = [Verdict::Connected, Verdict::InvalidCredential, Verdict::InsufficientPermission, Verdict::RateLimited, Verdict::ProviderUnavailable, Verdict::UnexpectedResponse];
            let mut f = fixtures();
            for i in 0..n {
                let mut c = f.cases[0].clone();
                c.name = "a 429 is rate-limited".into();
                c.when = Some(format!("k{i}"));
                c.expect.verdict = verdicts[verdict];
                f.cases.push(c);
            }
            let s = suite(&f);
            let host = host_cases();
            prop_assert_eq!(&s[s.len() - host.len()..], &host[..]);
        }

        /// A case's answer for any request number is one of its answers.
        #[test]
        fn every_request_gets_one_of_the_case_answers(extra in 0usize..4, n in 0usize..50) {
            let mut f = fixtures();
            for i in 0..extra {
                f.cases[0].answers.push(Answer::new(400 + i as u16, None));
            }
            let case = &suite(&f)[0];
            let Scripted::Answer(a) = case.answer(n) else { panic!("an answer") };
            prop_assert!(f.cases[0].answers.contains(a));
        }
    }
}
