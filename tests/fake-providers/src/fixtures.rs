//! The fakes' answers as data: one file per provider under `fixtures/`, each case naming the
//! documentation page it reproduces.
//!
//! A case is what one endpoint answers (status, headers, body) and, when a connection test ends
//! on it, the verdict the plugin must give. The fakes serve cases; the plugin host's tests run
//! every case that has an `expect` through the real plugin on both backends. So a body changes
//! in one place, with its source beside it, and the plugin is held to it.
//!
//! Which case an endpoint serves is chosen by keyword: the case whose `when` keyword (or one of
//! them) appears in the credential, the longest keyword winning; with none, the endpoint's case
//! marked `otherwise`. Some answers are decided by the fake's code instead (an API key on an
//! endpoint the provider refuses it on, an unknown service account): the code names the case
//! by its `id`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

/// One provider's documented answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The catalog key of the provider whose plugin these answers test.
    pub provider: String,
    /// When the pages below were last read against these answers (YYYY-MM-DD).
    pub checked: String,
    /// Every page the cases cite.
    pub docs: Vec<String>,
    /// The secret a test pastes to reach a case: `{kw}` becomes the case's first keyword.
    pub credential: String,
    /// Credential fields every test adds (an Account SID).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The entry's plugin config pointed at the fakes: `{fake}` is `http://127.0.0.1:PORT`.
    pub config: Value,
    pub cases: Vec<Case>,
}

/// One documented answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique within the provider, `endpoint/what`.
    pub id: String,
    /// Which of the fake's routes serves it.
    pub endpoint: String,
    /// Keywords in the credential that select this case.
    #[serde(default)]
    pub when: Keywords,
    /// Served when no keyword matches.
    #[serde(default)]
    pub otherwise: bool,
    /// The page (and section) this answer reproduces; one of the fixture's `docs`.
    pub doc: String,
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON, served as `application/json`. `{name}` placeholders in strings are filled by the
    /// endpoint (an account SID, a masked key).
    pub body: Value,
    /// Credential fields a test adds to reach this case (an ad account, a region).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// A secret template for this case instead of the fixture's.
    #[serde(default)]
    pub credential: Option<String>,
    /// Plugin config a test merges over the fixture's to reach this case (an old API version).
    #[serde(default)]
    pub config: Option<Value>,
    /// The verdict a connection test that ends here must give.
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Keywords {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Keywords {
    pub fn all(&self) -> &[String] {
        match self {
            Keywords::None => &[],
            Keywords::One(k) => std::slice::from_ref(k),
            Keywords::Many(ks) => ks,
        }
    }
}

/// What the plugin must conclude.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A WIT verdict in kebab case (`connected`, `invalid-credential`, ...).
    pub verdict: String,
    /// Text the outcome's message must contain.
    #[serde(default)]
    pub says: Option<String>,
    /// The account label the outcome must carry.
    #[serde(default)]
    pub label: Option<String>,
    /// Text one of the outcome's warnings must contain.
    #[serde(default)]
    pub warns: Option<String>,
    /// Text the message must not contain (a part of the key the provider echoes).
    #[serde(default)]
    pub never_says: Vec<String>,
}

const SOURCES: [(&str, &str); 7] = [
    ("anthropic", include_str!("../fixtures/anthropic.json")),
    ("openai", include_str!("../fixtures/openai.json")),
    ("stripe", include_str!("../fixtures/stripe.json")),
    ("twilio", include_str!("../fixtures/twilio.json")),
    ("sendgrid", include_str!("../fixtures/sendgrid.json")),
    (
        "google-calendar",
        include_str!("../fixtures/google-calendar.json"),
    ),
    ("meta-ads", include_str!("../fixtures/meta-ads.json")),
];

/// Every fixture, parsed once. The files are compiled in; [`check_all`] (run by this crate's
/// tests) proves they parse and hang together, so a broken file fails there first.
pub fn all() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            .filter_map(|(name, text)| match serde_json::from_str(text) {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("fixtures/{name}.json: {e}");
                    None
                }
            })
            .collect()
    })
}

/// The fixture of one provider (by catalog key).
pub fn of(provider: &str) -> Option<&'static Fixture> {
    all().iter().find(|f| f.provider == provider)
}

/// Checks every fixture file: it parses, ids are unique, each case cites a listed page, each
/// endpoint has at most one `otherwise`, verdicts are known.
pub fn check_all() -> Result<usize, String> {
    let mut cases = 0;
    for (name, text) in SOURCES {
        let f: Fixture =
            serde_json::from_str(text).map_err(|e| format!("fixtures/{name}.json: {e}"))?;
        if f.provider != name {
            return Err(format!(
                "fixtures/{name}.json names provider {}",
                f.provider
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut otherwise = std::collections::BTreeSet::new();
        for c in &f.cases {
            if !ids.insert(c.id.as_str()) {
                return Err(format!("{name}: case id {} twice", c.id));
            }
            if !c.id.starts_with(&format!("{}/", c.endpoint)) {
                return Err(format!(
                    "{name}: case {} is not under {}/",
                    c.id, c.endpoint
                ));
            }
            if !f.docs.iter().any(|d| c.doc.starts_with(d.as_str())) {
                return Err(format!(
                    "{name}: case {} cites {}, which is not in docs",
                    c.id, c.doc
                ));
            }
            if c.otherwise && !otherwise.insert(c.endpoint.as_str()) {
                return Err(format!("{name}: two `otherwise` cases on {}", c.endpoint));
            }
            if let Some(e) = &c.expect {
                const VERDICTS: [&str; 6] = [
                    "connected",
                    "invalid-credential",
                    "insufficient-permission",
                    "rate-limited",
                    "provider-unavailable",
                    "unexpected-response",
                ];
                if !VERDICTS.contains(&e.verdict.as_str()) {
                    return Err(format!("{name}: case {}: verdict {}", c.id, e.verdict));
                }
            }
            cases += 1;
        }
    }
    Ok(cases)
}

impl Fixture {
    /// The case with this id.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// The case `endpoint` serves for this credential: the longest matching keyword, else the
    /// endpoint's `otherwise`.
    pub fn choose(&self, endpoint: &str, credential: &str) -> Option<&Case> {
        let on_endpoint = || self.cases.iter().filter(move |c| c.endpoint == endpoint);
        on_endpoint()
            .filter_map(|c| {
                c.when
                    .all()
                    .iter()
                    .filter(|k| credential.contains(k.as_str()))
                    .map(String::len)
                    .max()
                    .map(|len| (len, c))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, c)| c)
            .or_else(|| on_endpoint().find(|c| c.otherwise))
    }
}

impl Case {
    /// The keyword a test puts in the credential to reach this case.
    pub fn keyword(&self) -> &str {
        self.when.all().first().map_or("none", String::as_str)
    }

    /// The HTTP answer, with `{name}` placeholders in the body's strings filled from `vars`.
    pub fn respond(&self, vars: &[(&str, &str)]) -> Response {
        let body = fill(&self.body, vars);
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/json");
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(Body::from(body.to_string()))
            .unwrap_or_default()
    }
}

/// `value` with `{name}` placeholders in every string replaced from `vars`.
pub fn fill(value: &Value, vars: &[(&str, &str)]) -> Value {
    match value {
        Value::String(s) => {
            let mut s = s.clone();
            for (name, v) in vars {
                s = s.replace(&format!("{{{name}}}"), v);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses_and_cites_its_sources() {
        let n = check_all().expect("fixtures");
        assert_eq!(all().len(), SOURCES.len());
        assert!(n > 40, "{n} cases");
    }

    #[test]
    fn the_longest_keyword_wins_and_otherwise_catches_the_rest() {
        let f = of("openai").expect("openai");
        let quota = f.choose("models", "sk-proj-quota-0").expect("a case");
        let null = f.choose("models", "sk-proj-quotanull-0").expect("a case");
        assert_ne!(quota.id, null.id);
        assert!(null.when.all().iter().any(|k| k == "quotanull"));
        let none = f.choose("models", "sk-proj-nothing").expect("otherwise");
        assert!(none.otherwise);
    }

    #[test]
    fn placeholders_are_filled_everywhere_in_the_body() {
        let body = serde_json::json!({"a": ["{sid}"], "b": {"c": "x {sid} y"}, "d": 1});
        let filled = fill(&body, &[("sid", "AC1")]);
        assert_eq!(
            filled,
            serde_json::json!({"a": ["AC1"], "b": {"c": "x AC1 y"}, "d": 1})
        );
    }
}
