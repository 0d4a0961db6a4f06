//! A real caller under workerd: the example AI function (`examples/ai-function`, TypeScript,
//! `@byok/client`) in its own `wrangler dev`, bound to the BYOK Worker by a service binding,
//! with Anthropic faked on loopback. Covers the tenant's key, the platform's key where
//! allowed, a bring-your-own-key-only tenant, and the loop from a key revoked at the provider
//! to `invalid` in the tenant's Settings; then usage, the policy routes and the report route's
//! answers. The Rust client (`byok-client` over reqwest) is checked against the same service.

use std::time::{Duration, Instant};

use byok_e2e::{AiFunction, Edge};
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const TENANT_KEY: &str = "sk-ant-FAKE-valid-aifn-tenant-000000000000000000000";
const PLATFORM_KEY: &str = "sk-ant-FAKE-valid-aifn-platform-0000000000000000000";

async fn call(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value, String) {
    let mut req = Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, value, text)
}

fn status_of(list: &Value, provider: &str) -> Option<Value> {
    list["integrations"]
        .as_array()?
        .iter()
        .find(|i| i["provider"] == provider)
        .cloned()
}

#[test]
fn an_ai_function_uses_byok_over_a_service_binding_and_reports_revoked_keys() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let edge = Edge::start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let service = edge.token("service", "platform");
    let admin = edge.token("platform-admin", "platform");
    // The function's own token is scoped to the providers it calls.
    let scoped = edge.scoped_service_token(Some(&["anthropic", "openai"]), None);
    let function = AiFunction::start(&edge, &fakes, &scoped);
    let (b, f) = (edge.base.as_str(), function.base.as_str());

    rt.block_on(async {
        // The platform's own Anthropic key (the seed allows fallback).
        let (s, _, _, t) = call(b, Method::PUT, "/v1/admin/platform-keys/anthropic", Some(&admin),
            Some(json!({"key": PLATFORM_KEY}))).await;
        assert_eq!(s, 200, "platform key: {t}");

        // 1. A tenant with its own key: the function calls Anthropic with it.
        let owner = edge.token("owner", "aifn-own");
        let (s, _, v, t) = call(b, Method::POST, "/v1/integrations", Some(&owner),
            Some(json!({"provider": "anthropic", "key": TENANT_KEY}))).await;
        assert_eq!(s, 201, "{t}");
        assert_eq!(v["status"], "connected", "{t}");
        // The tenant is the caller's, from its verified token: a tenant named in the body is
        // ignored (here another tenant's, which has no key and would get the platform's).
        let (s, _, v, t) = call(f, Method::POST, "/v1/complete", Some(&owner),
            Some(json!({"tenant": "aifn-nokey", "prompt": "Hi"}))).await;
        assert_eq!(s, 200, "complete with the tenant key: {t}");
        assert_eq!(v["source"], "tenant", "{t}");
        assert_eq!(v["text"], "Hello from the fake Anthropic.", "{t}");
        assert!(!t.contains(TENANT_KEY), "the function never answers with the key");

        // 2. A tenant without a key gets the platform's, where the entry allows it.
        let nokey = edge.token("member", "aifn-nokey");
        let (s, _, v, t) = call(f, Method::POST, "/v1/complete", Some(&nokey),
            Some(json!({"prompt": "Hi"}))).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(v["source"], "platform", "{t}");
        assert!(!t.contains(PLATFORM_KEY));
        let (s, _, v, t) = call(f, Method::POST, "/v1/which-key", Some(&nokey),
            Some(json!({}))).await;
        assert_eq!((s.as_u16(), v["source"].as_str()), (200, Some("platform")), "{t}");
        assert!(!t.contains(PLATFORM_KEY));

        // Only a signed-in user of a tenant calls the function, about that tenant (review M1):
        // no token, a forged or expired one, or a service token gets nothing about anyone.
        let forged = edge.token_with("owner", "aifn-own", 3600, "not-the-auth-secret-0123456789abcdef");
        let expired = edge.token_ttl("owner", "aifn-own", -3600);
        for path in ["/v1/which-key", "/v1/complete"] {
            for (token, want) in [(None, 401), (Some(forged.as_str()), 401), (Some(expired.as_str()), 401),
                                  (Some(service.as_str()), 403), (Some(admin.as_str()), 403)] {
                let (s, _, v, t) = call(f, Method::POST, path, token,
                    Some(json!({"tenant": "aifn-own", "prompt": "Hi"}))).await;
                assert_eq!(s.as_u16(), want, "{path}: {t}");
                assert!(v.get("source").is_none() && !t.contains("aifn-own"), "{path}: nothing about the tenant: {t}");
            }
        }

        // The function's scoped token resolves only what it lists (review: least privilege).
        let (s, _, v, t) = call(b, Method::POST, "/v1/resolve", Some(&scoped),
            Some(json!({"tenant": "aifn-own", "provider": "stripe"}))).await;
        assert_eq!(s, 403, "{t}");
        assert!(v["detail"].as_str().unwrap_or("").contains("'providers' claim"), "names the claim: {t}");
        let (s, _, _, t) = call(b, Method::POST, "/v1/resolve/report", Some(&scoped),
            Some(json!({"tenant": "aifn-own", "provider": "stripe", "source": "tenant", "status": 401}))).await;
        assert_eq!(s, 403, "reports are scoped too: {t}");
        let one_tenant = edge.scoped_service_token(None, Some(&["aifn-nokey"]));
        let (s, _, v, t) = call(b, Method::POST, "/v1/resolve", Some(&one_tenant),
            Some(json!({"tenant": "aifn-own", "provider": "anthropic"}))).await;
        assert_eq!(s, 403, "{t}");
        assert!(v["detail"].as_str().unwrap_or("").contains("'tenants' claim"), "{t}");
        assert!(!t.contains(TENANT_KEY));
        let (s, _, v, _) = call(b, Method::POST, "/v1/resolve", Some(&one_tenant),
            Some(json!({"tenant": "aifn-nokey", "provider": "anthropic"}))).await;
        assert_eq!((s.as_u16(), v["source"].as_str()), (200, Some("platform")));
        // A scope that cannot be read, or scope claims on a user's token: refused outright.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let cfg = edge.config();
        for (claims, secret) in [
            (json!({"sub": "f", "tenant": "platform", "role": "service", "providers": "anthropic",
                    "exp": now + 600, "iss": cfg.issuer, "aud": cfg.audience}), &cfg.service_secret),
            (json!({"sub": "f", "tenant": "platform", "role": "service", "providers": ["Not A Key"],
                    "exp": now + 600, "iss": cfg.issuer, "aud": cfg.audience}), &cfg.service_secret),
            (json!({"sub": "u", "tenant": "aifn-own", "role": "owner", "providers": ["anthropic"],
                    "exp": now + 600, "iss": cfg.issuer, "aud": cfg.audience}), &cfg.auth_secret),
        ] {
            let token = edge.sign(&claims, secret);
            let (s, _, _, t) = call(b, Method::POST, "/v1/resolve", Some(&token),
                Some(json!({"tenant": "aifn-nokey", "provider": "anthropic"}))).await;
            assert_eq!(s, 401, "{claims}: {t}");
        }

        // 3. A bring-your-own-key-only tenant: a clear error, never the platform key.
        let policy = "/v1/admin/tenants/aifn-byok/providers/anthropic/policy";
        let (s, _, v, t) = call(b, Method::GET, policy, Some(&admin), None).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(v["platform_fallback"], "inherit");
        assert_eq!(v["platform_key_allowed"], true);
        let (s, _, v, t) = call(b, Method::PUT, policy, Some(&admin), Some(json!({"platform_fallback": "never"}))).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(v["platform_key_allowed"], false, "{t}");
        assert_eq!(v["updated_by"], "platform-admin@platform", "{t}");
        let (s, _, v, t) = call(f, Method::POST, "/v1/complete", Some(&edge.token("member", "aifn-byok")),
            Some(json!({"prompt": "Hi"}))).await;
        assert_eq!(s, 409, "{t}");
        assert_eq!(v["error"], "FallbackNotAllowed", "{t}");
        assert!(v["detail"].as_str().unwrap_or("").contains("bring its own key"), "{t}");
        let (s, _, v, t) = call(b, Method::POST, "/v1/resolve", Some(&service),
            Some(json!({"tenant": "aifn-byok", "provider": "anthropic"}))).await;
        assert_eq!(s, 404, "{t}");
        assert_eq!(v["type"], "/problems/fallback-not-allowed", "{t}");
        assert!(!t.contains(PLATFORM_KEY));
        // Only a platform admin sets policies; a tenant's owner cannot lift its own.
        let (s, _, _, _) = call(b, Method::PUT, policy, Some(&edge.token("owner", "aifn-byok")),
            Some(json!({"platform_fallback": "inherit"}))).await;
        assert_eq!(s, 403);
        // Other tenants keep the entry's rule.
        let (s, _, v, _) = call(b, Method::POST, "/v1/resolve", Some(&service),
            Some(json!({"tenant": "aifn-other", "provider": "anthropic"}))).await;
        assert_eq!((s.as_u16(), v["source"].as_str()), (200, Some("platform")));

        // The Rust client, natively over HTTPS (reqwest), against the same service.
        let rust = byok_client::Client::new(byok_client::Https::new(b).expect("a loopback URL"), service.clone())
            .with_cache(byok_client::Cache::new(8));
        let cfg = rust.get_ai_config("aifn-own", "anthropic").await.expect("rust client");
        assert_eq!(cfg.source, byok_client::Source::Tenant);
        assert_eq!(byok_client::ExposeSecret::expose_secret(&cfg.api_key), TENANT_KEY);
        assert_eq!(rust.get_ai_config("aifn-nokey", "anthropic").await.map(|c| c.source),
            Ok(byok_client::Source::Platform));
        match rust.get_ai_config("aifn-byok", "anthropic").await {
            Err(byok_client::Error::FallbackNotAllowed(detail)) => assert!(!detail.contains(PLATFORM_KEY)),
            other => panic!("a BYOK-only tenant: {:?}", other.map(|c| c.source)),
        }
        assert!(matches!(rust.get_ai_config("aifn-own", "nope").await, Err(byok_client::Error::UnknownProvider(_))));

        // 4. The key is revoked at Anthropic: the function's call is refused, it reports, the
        //    service re-tests, and the tenant's Settings say `invalid` within seconds.
        fakes.revoke(TENANT_KEY);
        let (s, _, v, t) = call(f, Method::POST, "/v1/complete", Some(&owner),
            Some(json!({"prompt": "Hi"}))).await;
        assert_eq!(s, 502, "{t}");
        assert_eq!(v["error"], "provider-rejected-key", "{t}");
        assert_eq!(v["reported"], "retest-scheduled", "{t}");
        let started = Instant::now();
        let row = loop {
            let (_, _, list, _) = call(b, Method::GET, "/v1/integrations", Some(&owner), None).await;
            let row = status_of(&list, "anthropic").expect("installed");
            if row["status"] == "invalid" || started.elapsed() > Duration::from_secs(20) {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(row["status"], "invalid", "after the report: {row}");
        eprintln!("revoked → invalid in {:?}", started.elapsed());
        assert!(row["last_verified_at"].is_string(), "{row}");
        // A burst of reports is one re-test.
        let report = json!({"tenant": "aifn-own", "provider": "anthropic", "source": "tenant", "status": 401});
        let (s, _, v, t) = call(b, Method::POST, "/v1/resolve/report", Some(&service), Some(report)).await;
        assert_eq!(s, 202, "{t}");
        assert_eq!(v["action"], "deduplicated", "{t}");
        assert!(v["retest_after"].is_string(), "{t}");
        let (_, _, audit, _) = call(b, Method::GET, "/v1/audit", Some(&owner), None).await;
        let entries = audit["entries"].as_array().cloned().unwrap_or_default();
        assert!(entries.iter().any(|e| e["actor"] == "usage-report" && e["action"] == "test"),
            "the re-test is audited as the report's: {audit}");
        // The report itself is in the tenant's log too, not the service token's (review L1).
        assert!(entries.iter().any(|e| e["action"] == "usage-report"
                && e["outcome"].as_str().is_some_and(|o| o.contains("re-test scheduled"))),
            "the report is audited for the tenant whose key it concerns: {audit}");

        // 5. Reports about the platform key never touch a tenant; a 429 is not a rejection.
        for (source, status, action) in [("platform", 401, "platform-key-recorded"), ("tenant", 429, "not-a-rejection"),
                                         ("tenant", 401, "no-tenant-key")] {
            let (s, _, v, t) = call(b, Method::POST, "/v1/resolve/report", Some(&service),
                Some(json!({"tenant": "aifn-nokey", "provider": "anthropic", "source": source, "status": status}))).await;
            assert_eq!((s.as_u16(), v["action"].as_str()), (202, Some(action)), "{t}");
        }
        for (body, want) in [
            (json!({"tenant": "aifn-own", "provider": "anthropic", "source": "tenant", "status": 1000}), 422),
            (json!({"tenant": "aifn-own", "provider": "nope", "source": "tenant", "status": 401}), 404),
            (json!({"tenant": "aifn-own", "provider": "anthropic", "source": "both", "status": 401}), 400),
        ] {
            let (s, _, _, t) = call(b, Method::POST, "/v1/resolve/report", Some(&service), Some(body)).await;
            assert_eq!(s.as_u16(), want, "{t}");
        }
        let (s, _, _, _) = call(b, Method::POST, "/v1/resolve/report", Some(&owner),
            Some(json!({"tenant": "aifn-own", "provider": "anthropic", "source": "tenant", "status": 401}))).await;
        assert_eq!(s, 403, "only the service reports");

        // 6. Usage: counted in the isolate and flushed in the background within seconds.
        let today = byok_core::usage::day_of(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0));
        let started = Instant::now();
        let usage = loop {
            let (s, _, v, t) = call(b, Method::GET, &format!("/v1/admin/usage?since={today}"), Some(&admin), None).await;
            assert_eq!(s, 200, "{t}");
            let rows = v["usage"].as_array().cloned().unwrap_or_default();
            let own = rows.iter().find(|r| r["tenant"] == "aifn-own" && r["source"] == "tenant").cloned();
            let done = own.as_ref().is_some_and(|r| r["rejections"].as_u64() >= Some(2))
                && rows.iter().any(|r| r["tenant"] == "aifn-nokey" && r["source"] == "platform");
            if done || started.elapsed() > Duration::from_secs(15) {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let own = usage.iter().find(|r| r["tenant"] == "aifn-own" && r["source"] == "tenant").expect("tenant usage");
        // Two calls through the function and one by the Rust client, two resolves: the
        // function's client kept its first answer (max-age=30) for its second call.
        assert_eq!(own["resolves"].as_u64(), Some(2), "{own}");
        assert!(usage.iter().any(|r| r["tenant"] == "aifn-nokey" && r["source"] == "platform" && r["resolves"].as_u64() >= Some(1)),
            "platform usage: {usage:?}");
        assert!(usage.iter().all(|r| r["tenant"] != "aifn-byok" || r["resolves"] == 0), "a refused resolve is not usage");
        let (_, _, list, _) = call(b, Method::GET, "/v1/integrations", Some(&owner), None).await;
        let row = status_of(&list, "anthropic").expect("installed");
        assert!(row["last_used_at"].is_string(), "last used: {row}");
        let (s, _, _, t) = call(b, Method::GET, "/v1/admin/usage?since=2026-02-30", Some(&admin), None).await;
        assert_eq!(s, 422, "{t}");
        let (s, _, _, _) = call(b, Method::GET, "/v1/admin/usage", Some(&owner), None).await;
        assert_eq!(s, 403, "usage is the platform's");

        // 7. Resolve answers say how long a client may keep them.
        let (_, h, _, _) = call(b, Method::POST, "/v1/resolve", Some(&service),
            Some(json!({"tenant": "aifn-nokey", "provider": "anthropic"}))).await;
        assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("private, max-age=30"));
    });
    drop(function);
}
