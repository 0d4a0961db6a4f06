//! The hard daily cap on the platform key (issue #21, part 4), under workerd with the Durable
//! Object that counts: resolves fired at once from many connections see exactly the cap
//! served, the rest refused in words with when it resets; a tenant's own key is never capped;
//! the overall cap spans providers.

use byok_e2e::Edge;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const PLATFORM_KEY: &str = "sk-ant-PLATFORM-cap-000000000000000000000000";
const OWN_KEY: &str = "sk-ant-TENANT-cap-00000000000000000000000000";

/// Fires `n` resolves at once, each from its own client (its own connection), and returns
/// each answer's status and body.
async fn burst(
    edge: &Edge,
    tenant: &str,
    provider: &str,
    n: usize,
) -> Vec<(StatusCode, Value, Option<String>)> {
    let token = edge.token("service", "platform");
    let calls = (0..n).map(|_| {
        let client = Client::new();
        let (url, token) = (format!("{}/v1/resolve", edge.base), token.clone());
        let body = json!({"tenant": tenant, "provider": provider});
        async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("resolve");
            let status = resp.status();
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (
                status,
                resp.json::<Value>().await.unwrap_or(Value::Null),
                retry,
            )
        }
    });
    // Spawned: the requests are in flight together, on the runtime's threads.
    let tasks: Vec<_> = calls.map(tokio::spawn).collect();
    let mut answers = Vec::with_capacity(n);
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    answers
}

async fn admin(edge: &Edge, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = Client::new()
        .request(method, format!("{}{path}", edge.base))
        .bearer_auth(edge.token("platform-admin", "platform"))
        .json(&body)
        .send()
        .await
        .expect("admin");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

#[test]
fn the_platform_keys_daily_cap_is_exact_under_concurrency_and_never_touches_a_tenants_own_key() {
    let rt = byok_e2e::runtime();
    let edge = Edge::start();
    rt.block_on(edge.seed());
    rt.block_on(async {
        use reqwest::Method;
        admin(
            &edge,
            Method::PUT,
            "/v1/admin/platform-keys/anthropic",
            json!({"key": PLATFORM_KEY}),
        )
        .await;
        admin(
            &edge,
            Method::PUT,
            "/v1/admin/platform-keys/openai",
            json!({"key": "sk-PLATFORM-openai-cap-0000000000000000"}),
        )
        .await;

        // A cap of 7 on Anthropic's platform key for one tenant; 40 resolves at once.
        let policy = admin(
            &edge,
            Method::PUT,
            "/v1/admin/tenants/capped/providers/anthropic/policy",
            json!({"platform_fallback": "inherit", "platform_daily_cap": 7}),
        )
        .await;
        assert_eq!(policy["platform_daily_cap"], 7, "{policy}");
        let answers = burst(&edge, "capped", "anthropic", 40).await;
        let served: Vec<_> = answers.iter().filter(|a| a.0 == 200).collect();
        let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
        assert_eq!(
            (served.len(), refused.len()),
            (7, 33),
            "exactly the cap is served"
        );
        assert!(served
            .iter()
            .all(|a| a.1["source"] == "platform" && a.1["api_key"] == PLATFORM_KEY));
        for (_, p, retry) in &refused {
            assert_eq!(p["type"], "/problems/platform-cap-reached", "{p}");
            assert_eq!(p["cap"]["source"], "platform");
            assert_eq!(
                (p["cap"]["scope"].as_str(), p["cap"]["cap"].as_u64()),
                (Some("provider"), Some(7))
            );
            let resets = p["cap"]["resets_at"].as_str().unwrap_or_default();
            assert!(
                resets.ends_with("T00:00:00.000Z"),
                "the next UTC midnight: {resets}"
            );
            let detail = p["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("platform's key")
                    && detail.contains("7 platform-key resolves")
                    && detail.contains(resets),
                "{detail}"
            );
            assert!(
                retry
                    .as_deref()
                    .and_then(|r| r.parse::<u64>().ok())
                    .is_some_and(|s| s > 0 && s <= 86_400),
                "Retry-After: {retry:?}"
            );
            assert!(!p.to_string().contains(PLATFORM_KEY), "no key in a refusal");
        }
        let policy = admin(
            &edge,
            Method::GET,
            "/v1/admin/tenants/capped/providers/anthropic/policy",
            Value::Null,
        )
        .await;
        assert_eq!(
            policy["platform_resolves_today"], 7,
            "the count is shown: {policy}"
        );

        // Another tenant has its own allowance; an uncapped provider is not counted at all.
        let other = burst(&edge, "capped-other", "anthropic", 10).await;
        assert!(
            other.iter().all(|a| a.0 == 200),
            "no cap for another tenant"
        );
        assert!(
            burst(&edge, "capped", "openai", 10)
                .await
                .iter()
                .all(|a| a.0 == 200),
            "openai is not capped"
        );

        // The tenant's own key is never capped, however many resolves.
        let resp = Client::new()
            .post(format!("{}/v1/integrations", edge.base))
            .bearer_auth(edge.token("owner", "capped"))
            .json(&json!({"provider": "anthropic", "key": OWN_KEY}))
            .send()
            .await
            .expect("install");
        assert_eq!(resp.status(), 201);
        let own = burst(&edge, "capped", "anthropic", 30).await;
        assert!(
            own.iter()
                .all(|a| a.0 == 200 && a.1["source"] == "tenant" && a.1["api_key"] == OWN_KEY),
            "own key: {:?}",
            own.iter().map(|a| a.0).collect::<Vec<_>>()
        );

        // The overall cap spans providers: 5 a day, Anthropic and OpenAI together.
        let t = admin(
            &edge,
            Method::PUT,
            "/v1/admin/tenants/capped-all/policy",
            json!({"platform_daily_cap": 5}),
        )
        .await;
        assert_eq!(
            (
                t["platform_daily_cap"].as_u64(),
                t["platform_resolves_today"].as_u64()
            ),
            (Some(5), Some(0)),
            "{t}"
        );
        let (a, o) = tokio::join!(
            burst(&edge, "capped-all", "anthropic", 8),
            burst(&edge, "capped-all", "openai", 8),
        );
        let served = a.iter().chain(&o).filter(|x| x.0 == 200).count();
        assert_eq!(served, 5, "exactly the overall cap, across providers");
        let refused = a.iter().chain(&o).find(|x| x.0 == 429).expect("a refusal");
        assert_eq!(refused.1["cap"]["scope"], "overall");
        let t = admin(
            &edge,
            Method::GET,
            "/v1/admin/tenants/capped-all/policy",
            Value::Null,
        )
        .await;
        assert_eq!(t["platform_resolves_today"], 5);

        // Removing the cap serves again (after the isolate's 30 s resolve cache, which holds
        // the caps it read, in other isolates; this one forgets at once).
        admin(
            &edge,
            Method::PUT,
            "/v1/admin/tenants/capped-all/policy",
            json!({"platform_daily_cap": null}),
        )
        .await;
        let t = admin(
            &edge,
            Method::GET,
            "/v1/admin/tenants/capped-all/policy",
            Value::Null,
        )
        .await;
        assert!(t.get("platform_daily_cap").is_none(), "{t}");
    });
}
