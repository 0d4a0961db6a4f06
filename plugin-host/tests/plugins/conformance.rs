//! The conformance suite through real components: a plugin that would pass a made-up key, one
//! that echoes the key, one that leaves its allowlist and one that never stops are refused, each
//! with the reason; a careful one passes on both backends.

use byok_core::catalog::CatalogEntry;
use byok_core::conformance::{Fixtures, SuiteReport};
use byok_core::ids::ProviderKey;
use byok_plugin_host::conformance::check;
use serde_json::{json, Value};

use crate::common::{component, engine, BACKENDS};

fn entry(config: Value) -> CatalogEntry {
    CatalogEntry::from_json(
        ProviderKey::parse("acme").expect("key"),
        &json!({
            "name": "Acme", "description": "d", "auth_type": "api-key",
            "credential_label": "API key", "help_url": "https://acme.example/keys",
            "test_plugin": {"digest": "a".repeat(64), "config": config},
            "egress": [{"scheme": "https", "host": "api.acme.example"}]
        })
        .to_string(),
    )
    .expect("entry")
}

fn fixtures() -> Fixtures {
    serde_json::from_value(json!({
        "credential": {"key": "acme-FAKE-key-0000000000"},
        "cases": [
            {"name": "a wrong key is refused", "source": "https://acme.example/docs/errors",
             "answers": [{"status": 401, "body": {"error": {"message": "Invalid API key"}}}],
             "expect": {"verdict": "invalid-credential"}},
            {"name": "a working key", "source": "https://acme.example/docs/me",
             "answers": [{"status": 200, "body": {"ok": true}}],
             "expect": {"verdict": "connected"}}
        ]
    }))
    .expect("fixtures")
}

async fn suite(plugin: &str, config: Value) -> Vec<SuiteReport> {
    let bytes = component(plugin);
    let mut out = Vec::new();
    for backend in BACKENDS {
        let engine = engine(backend);
        let loaded = engine.load(&bytes).expect("loads");
        out.push(check(&engine, &loaded, &entry(config.clone()), &fixtures(), 0).await);
    }
    assert_eq!(out[0], out[1], "Cranelift and Pulley agree on every case");
    out
}

fn failure<'a>(r: &'a SuiteReport, case: &str) -> &'a str {
    r.cases
        .iter()
        .find(|c| c.name == case)
        .and_then(|c| c.failure.as_deref())
        .unwrap_or("")
}

#[tokio::test]
async fn a_careful_plugin_passes_every_case() {
    let r = &suite(
        "hostile",
        json!({"armed_by_key": true, "url": "https://api.acme.example/me"}),
    )
    .await[0];
    assert!(r.passed(), "{}", r.summary());
    assert_eq!(
        r.cases.len(),
        2 + byok_core::conformance::host_cases().len()
    );
}

#[tokio::test]
async fn a_plugin_that_passes_any_key_is_refused() {
    let r = &suite(
        "hostile",
        json!({"mode": "outcome-from-config", "verdict": 0, "message": "ok"}),
    )
    .await[0];
    assert!(!r.passed());
    assert!(
        failure(r, "a wrong key is refused").contains("must be invalid-credential, got connected"),
        "{}",
        r.summary()
    );
    for host in [
        "a 429 is rate-limited",
        "a timeout is provider-unavailable",
        "an HTML login page is never connected",
    ] {
        assert!(!failure(r, host).is_empty(), "{host}: {}", r.summary());
    }
}

#[tokio::test]
async fn echoing_the_key_or_leaving_the_allowlist_fails_in_words() {
    let r = &suite("hostile", json!({"mode": "secret-transformed"})).await[0];
    assert!(
        failure(r, "a working key").contains("repeats the key"),
        "{}",
        r.summary()
    );
    let r = &suite("hostile", json!({"mode": "off-allowlist"})).await[0];
    assert!(
        failure(r, "a working key").contains("allowlist does not allow"),
        "{}",
        r.summary()
    );
}

#[tokio::test]
async fn a_plugin_that_never_stops_costs_one_case_not_the_whole_suite() {
    let r = &suite("hostile", json!({"mode": "loop"})).await[0];
    assert!(
        failure(r, "a wrong key is refused").contains("fuel"),
        "{}",
        r.summary()
    );
    let rest: Vec<&str> = r.cases[1..].iter().map(|c| c.got.as_str()).collect();
    assert!(rest.iter().all(|g| *g == "not-run"), "{rest:?}");
    assert!(
        failure(r, "a working key").contains("not run: case 'a wrong key is refused' used up"),
        "{}",
        r.summary()
    );
}
