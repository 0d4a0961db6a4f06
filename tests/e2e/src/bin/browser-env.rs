//! The edge the browser tests drive: the Worker under `wrangler dev` on workerd, the fake
//! providers on loopback, and the seeded catalog with every connection test pointed at the
//! fakes, plus one entry with no test plugin. Prints one JSON line once ready
//! (`{"base": "http://127.0.0.1:PORT", "fakes": "127.0.0.1:PORT", "admin": "<platform-admin
//! token>"}`, the token for tests that add entries of their own) and stops everything
//! when its stdin closes, so a test runner that dies takes the edge with it.
//!
//! `BYOK_EDGE_VARS` (a JSON object of strings) adds Worker vars: the browser tests start a
//! stand-in platform app first and point `AUTH_JWKS_URL`, `CONNECT_ORIGINS` and
//! `ALLOWED_EMBED_ORIGINS` at it. `BYOK_EDGE_WEBHOOK_URL` and `BYOK_EDGE_WEBHOOK_MAX_ATTEMPTS`
//! send status webhooks to a receiver of the test's. `BYOK_EDGE_ROTATE=1` leaves the edge as an
//! operator's key rotation does: three workspaces' keys saved under the first keyring key, then
//! a new primary key and a restart, so those keys wait for a reseal (the console's Keyring page).

use std::io::BufRead;

use byok_core::keyring::{KeyId, KeyringDocument};
use byok_e2e::{Edge, EdgeConfig};
use byok_fake_providers::FakeProviders;

#[tokio::main]
async fn main() {
    let fakes = FakeProviders::start(0).await.expect("fake providers");
    let extra_vars: Vec<(String, String)> = std::env::var("BYOK_EDGE_VARS")
        .ok()
        .map(|text| {
            let vars: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
                .expect("BYOK_EDGE_VARS must be a JSON object of strings");
            vars.into_iter().collect()
        })
        .unwrap_or_default();
    // `BYOK_EDGE_WEBHOOK_URL`: where status events are delivered (the browser tests' receiver),
    // each given `BYOK_EDGE_WEBHOOK_MAX_ATTEMPTS` attempts before it is a dead letter.
    let defaults = EdgeConfig::default();
    let config = EdgeConfig {
        extra_vars,
        webhook_url: std::env::var("BYOK_EDGE_WEBHOOK_URL").ok(),
        webhook_max_attempts: std::env::var("BYOK_EDGE_WEBHOOK_MAX_ATTEMPTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(defaults.webhook_max_attempts),
        ..defaults
    };
    let edge = tokio::task::spawn_blocking(move || Edge::start_with(config))
        .await
        .expect("edge");
    edge.seed_all_against_fakes(&fakes).await;
    // An entry with only the catalog basics (no category, no test plugin): listed under
    // "Other", and a saved key stays unverified (`no-test`).
    let plain = serde_json::json!({
        "name": "Acme CRM",
        "description": "Contacts and deals from Acme CRM in your workspace.",
        "auth_type": "api-key",
        "credential_label": "API token",
        "credential_hint": "acme_…",
        "help_url": "https://example.com/acme/tokens",
        "help_instructions": ["Open Acme CRM → Settings → API.", "Create a token and copy it."],
    });
    let r = reqwest::Client::new()
        .put(format!("{}/v1/admin/providers/acme-crm", edge.base))
        .bearer_auth(edge.token("platform-admin", "platform"))
        .json(&plain)
        .send()
        .await
        .expect("push acme-crm");
    assert!(r.status().is_success(), "acme-crm: {}", r.status());

    let edge = if std::env::var("BYOK_EDGE_ROTATE").as_deref() == Ok("1") {
        rotated(edge).await
    } else {
        edge
    };

    println!(
        "{}",
        serde_json::json!({
            "base": edge.base,
            "fakes": fakes.addr().to_string(),
            "admin": edge.token("platform-admin", "platform"),
            // One token per role, for the API contract check (script/contract).
            "tokens": {
                "member": edge.token("member", "contract"),
                "owner": edge.token("owner", "contract"),
                "platform-admin": edge.token("platform-admin", "platform"),
                "service": edge.token("service", "platform"),
            },
        })
    );
    // Serve until the test runner closes stdin (or exits).
    tokio::task::spawn_blocking(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
    })
    .await
    .ok();
    drop(edge);
    drop(fakes);
}

/// Saves three workspaces' Stripe keys (ones the fakes accept) under the edge's keyring, then
/// rotates the keyring to a new primary key and restarts the edge over the same storage.
async fn rotated(mut edge: Edge) -> Edge {
    let client = reqwest::Client::new();
    for n in 1..=3 {
        let tenant = format!("sealed-{n}");
        let r = client
            .post(format!("{}/v1/integrations", edge.base))
            .bearer_auth(edge.token("owner", &tenant))
            .json(&serde_json::json!({
                "provider": "stripe",
                "key": "sk_test_fakevalid0000000000000000000000",
            }))
            .send()
            .await
            .expect("save a key");
        assert!(r.status().is_success(), "{tenant}: {}", r.status());
    }
    let mut keyring: KeyringDocument =
        serde_json::from_str(&edge.config().keyring).expect("keyring");
    keyring
        .rotate(KeyId::parse("rotated").expect("id"), &mut rand_core::OsRng)
        .expect("rotate");
    let mut config = edge.config().clone();
    config.keyring = keyring.to_json().to_string();
    tokio::task::spawn_blocking(move || {
        edge.restart(config);
        edge
    })
    .await
    .expect("restart")
}
