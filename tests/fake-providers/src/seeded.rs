//! The fakes of the providers added as data: `/<key>/<any path>` answers from
//! `seeds/<key>/fixtures.json`, the same documented answers the conformance suite runs.
//!
//! The case is chosen by keyword: the case whose `when` appears in the credential (wherever
//! the request carries it: a header, Basic auth's password, the query), the longest keyword
//! winning; with none, the first case that refuses the key, as a provider refuses a made-up
//! key. `slow`, `garbage`, `redirect` and `huge` behave as at every fake.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use crate::{chosen, common, Scenario};

/// The repository's `seeds/` (read at run time, so a reused binary reads this clone's):
/// `BYOK_ROOT`'s when set (the browser tests set it), else found from the crate's manifest.
/// A target dir shared by several clones may hold a build whose compile-time path is another
/// clone's, so that path is the last resort.
fn seeds_dir() -> PathBuf {
    if let Some(root) = std::env::var_os("BYOK_ROOT") {
        let seeds = PathBuf::from(root).join("seeds");
        if seeds.is_dir() {
            return seeds;
        }
    }
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    // The fakes' own manifest is tests/fake-providers; other crates' are one level down.
    for up in [dir.join("../../seeds"), dir.join("../seeds")] {
        if up.is_dir() {
            return up;
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../seeds")
}

/// A seed's fixtures, read once.
pub fn fixtures(key: &str) -> Option<Value> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Value>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().ok()?;
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            let safe = key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !safe {
                return None;
            }
            let text = std::fs::read_to_string(seeds_dir().join(key).join("fixtures.json")).ok()?;
            serde_json::from_str(&text).ok()
        })
        .clone()
}

/// Every place a request may carry the credential, as one text to look for keywords in.
fn credential_text(req: &Request) -> String {
    let mut out = String::new();
    for (name, value) in req.headers() {
        let Ok(v) = value.to_str() else { continue };
        if name == "authorization" {
            if let Some(b64) = v.strip_prefix("Basic ") {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    out.push(' ');
                }
            }
        }
        out.push_str(v);
        out.push(' ');
    }
    out.push_str(req.uri().query().unwrap_or_default());
    out
}

/// The case this credential reaches (see the module docs).
pub fn choose<'a>(fixtures: &'a Value, credential: &str) -> Option<&'a Value> {
    let cases = fixtures.get("cases")?.as_array()?;
    cases
        .iter()
        .filter_map(|c| {
            let kw = c.get("when")?.as_str()?;
            credential.contains(kw).then_some((kw.len(), c))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, c)| c)
        .or_else(|| {
            cases
                .iter()
                .find(|c| c.pointer("/expect/verdict") == Some(&Value::from("invalid-credential")))
        })
}

fn respond(answer: &Value) -> Response {
    let status = answer
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    let headers = answer.get("headers").and_then(Value::as_object);
    let has_type =
        headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
    for (name, value) in headers.into_iter().flatten() {
        if let Some(v) = value.as_str() {
            builder = builder.header(name.as_str(), v);
        }
    }
    let body = match answer.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => {
            if !has_type {
                builder = builder.header("content-type", "text/plain; charset=utf-8");
            }
            text.clone().into_bytes()
        }
        Some(json) => {
            if !has_type {
                builder = builder.header("content-type", "application/json");
            }
            json.to_string().into_bytes()
        }
    };
    builder.body(Body::from(body)).unwrap_or_default()
}

/// The fallback route: a seeded provider's documented answer, or 404.
pub async fn answer(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let key = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let Some(fixtures) = fixtures(key) else {
        return (StatusCode::NOT_FOUND, format!("no fake at {path}")).into_response();
    };
    let credential = credential_text(&req);
    let scenario = Scenario::of(&credential);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let credential = chosen(scenario, &credential);
    match choose(&fixtures, credential).and_then(|c| c.pointer("/answers/0")) {
        Some(answer) => respond(answer),
        None => (StatusCode::NOT_FOUND, format!("no case for {path}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seeded_fixture_has_a_refusal_to_fall_back_on() {
        let mut n = 0;
        for dir in std::fs::read_dir(seeds_dir()).expect("seeds") {
            let key = dir.expect("dir").file_name().to_string_lossy().into_owned();
            let Some(f) = fixtures(&key) else { continue };
            let refusal = choose(&f, "no keyword at all").expect("a case");
            assert_eq!(
                refusal.pointer("/expect/verdict"),
                Some(&Value::from("invalid-credential")),
                "{key}"
            );
            if let Some(valid) = f["cases"].as_array().and_then(|c| {
                c.iter()
                    .find(|c| c.pointer("/expect/verdict") == Some(&Value::from("connected")))
            }) {
                if let Some(kw) = valid["when"].as_str() {
                    assert_eq!(choose(&f, &format!("x-{kw}-y")), Some(valid), "{key}");
                }
            }
            n += 1;
        }
        assert!(n >= 27, "{n} seeds with fixtures");
    }
}
