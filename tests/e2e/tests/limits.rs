//! Rate limits under workerd (wrangler dev emulates the Rate Limiting bindings): a user over
//! their limit gets 429 with `Retry-After` and nothing is tested; the tenant's limit binds its
//! users together; another tenant, another action and resolve are unaffected.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use byok_e2e::EdgeConfig;
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-limits-00000000000000000000000000";

async fn call(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

/// The emulated limiter counts in fixed one-minute windows: start early in one, so that the
/// few seconds below never straddle two.
async fn early_in_a_minute() {
    loop {
        let s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        if s % 60 < 30 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn over_the_limit_is_429_with_retry_after_and_nothing_is_tested() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    // Per minute: 5 per tenant, 3 per user, for each limited action.
    let edge = EdgeConfig {
        rate_limits: (5, 3),
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let b = edge.base.as_str();
    let alice = edge.token_with_sub("owner", "acme", "alice");
    let bob = edge.token_with_sub("member", "acme", "bob");
    let carol = edge.token_with_sub("member", "acme", "carol");
    let other = edge.token_with_sub("owner", "other", "dave");
    let service = edge.token("service", "platform");

    rt.block_on(async {
        for (token, tenant) in [(&alice, "acme"), (&other, "other")] {
            let (s, _, v) = call(
                b,
                Method::POST,
                "/v1/integrations",
                token,
                Some(json!({"provider": "anthropic", "key": KEY})),
            )
            .await;
            assert_eq!(s, 201, "{tenant}: {v}");
        }
        early_in_a_minute().await;
        let test = "/v1/integrations/anthropic/test";
        for i in 1..=3 {
            let (s, _, v) = call(b, Method::POST, test, &alice, None).await;
            assert_eq!(s, 200, "alice's test {i}: {v}");
        }
        let (s, retry, v) = call(b, Method::POST, test, &alice, None).await;
        assert_eq!(s, 429, "alice's fourth test: {v}");
        assert_eq!(retry.as_deref(), Some("60"), "Retry-After");
        assert_eq!(v["type"], "/problems/rate-limited");
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("Too many connection tests from you"),
            "{detail}"
        );
        assert!(detail.contains("nothing was changed"), "{detail}");

        // Nothing was tested: the audit log has the install's test and three more.
        let (_, _, audit) = call(b, Method::GET, "/v1/audit", &alice, None).await;
        let tests = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"] == "test")
            .count();
        assert_eq!(tests, 4, "{audit}");

        // Another user of the tenant may still test, until the tenant's limit. Alice's refused
        // fourth attempt spent nothing of the tenant's: her three and bob's one make four,
        // carol's is the fifth, erin's the sixth.
        let erin = edge.token_with_sub("member", "acme", "erin");
        let (s, _, v) = call(b, Method::POST, test, &bob, None).await;
        assert_eq!(s, 200, "bob: {v}");
        let (s, _, v) = call(b, Method::POST, test, &carol, None).await;
        assert_eq!(
            s, 200,
            "carol: a refused request is not counted against the tenant: {v}"
        );
        let (s, retry, v) = call(b, Method::POST, test, &erin, None).await;
        assert_eq!(s, 429, "erin, over the tenant's limit: {v}");
        assert_eq!(retry.as_deref(), Some("60"));
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("from this account"),
            "{v}"
        );

        // Another tenant, another action, and resolve are not limited by any of that.
        let (s, _, v) = call(b, Method::POST, test, &other, None).await;
        assert_eq!(s, 200, "another tenant: {v}");
        let (s, _, v) = call(
            b,
            Method::PUT,
            "/v1/integrations/anthropic/credential",
            &alice,
            Some(json!({"key": KEY})),
        )
        .await;
        assert_eq!(s, 200, "saving is its own bucket: {v}");
        // Installs without a key and uninstalls are limited too (review L6): fay, the owner
        // of a quiet tenant, installs and uninstalls (3 of each per user per minute).
        let fay = edge.token_with_sub("owner", "quiet", "fay");
        let install = |provider: &'static str| {
            let fay = fay.clone();
            async move {
                call(
                    b,
                    Method::POST,
                    "/v1/integrations",
                    &fay,
                    Some(json!({"provider": provider})),
                )
                .await
            }
        };
        let uninstall = |provider: &'static str| {
            let fay = fay.clone();
            async move {
                call(
                    b,
                    Method::DELETE,
                    &format!("/v1/integrations/{provider}"),
                    &fay,
                    None,
                )
                .await
            }
        };
        assert_eq!(install("anthropic").await.0, 201);
        for round in 0..2 {
            assert_eq!(install("openai").await.0, 201, "install, round {round}");
            assert_eq!(uninstall("openai").await.0, 204, "uninstall, round {round}");
        }
        let (s, retry, v) = install("openai").await;
        assert_eq!(
            (s.as_u16(), retry.as_deref()),
            (429, Some("60")),
            "the fourth install: {v}"
        );
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("Too many installs from you"),
            "{v}"
        );
        assert_eq!(
            uninstall("openai").await.0,
            404,
            "the third uninstall: not installed"
        );
        let (s, _, v) = uninstall("anthropic").await;
        assert_eq!(s, 429, "the fourth uninstall: {v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("Too many uninstalls"),
            "{v}"
        );
        let (_, _, list) = call(b, Method::GET, "/v1/integrations", &fay, None).await;
        let providers: Vec<&str> = list["integrations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["provider"].as_str())
            .collect();
        assert_eq!(
            providers,
            ["anthropic"],
            "a refused uninstall removed nothing, a refused install added nothing"
        );

        for _ in 0..10 {
            let (s, _, v) = call(
                b,
                Method::POST,
                "/v1/resolve",
                &service,
                Some(json!({"tenant": "acme", "provider": "anthropic"})),
            )
            .await;
            assert_eq!(s, 200, "resolve is never limited: {v}");
        }
    });
}
