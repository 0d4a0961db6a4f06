//! Keys that never break by accident (issue #21), under workerd against the fake providers: a
//! new key saved over a working one is tested first, while the working key keeps serving; it
//! replaces it only when its test passes, or when the user chooses it after a test that could
//! not conclude. Failing verdicts carry a reason in words.

use byok_e2e::Edge;
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const WORKS: &str = "sk-ant-FAKE-valid-replace-one-000000000000000000000";
const ALSO_WORKS: &str = "sk-ant-FAKE-valid-replace-two-000000000000000000000";
const WRONG: &str = "sk-ant-FAKE-badkey-replace-00000000000000000000000";
/// The fake answers an HTML page: the test cannot conclude.
const UNCLEAR: &str = "sk-ant-FAKE-garbage-replace-0000000000000000000000";
const UNCLEAR_TOO: &str = "sk-ant-FAKE-garbage-replace-again-0000000000000000";

struct Api<'a> {
    edge: &'a Edge,
    http: Client,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.edge.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn save(&self, key: &str) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            "/v1/integrations/anthropic/credential",
            Some(json!({ "key": key })),
        )
        .await
    }

    async fn view(&self) -> Value {
        let (_, list) = self.call(Method::GET, "/v1/integrations", None).await;
        list["integrations"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["provider"] == "anthropic").cloned())
            .unwrap_or(Value::Null)
    }

    /// The key resolve hands out for `tenant`, and its status.
    async fn resolved(&self, tenant: &str) -> (String, String) {
        let resp = self
            .http
            .post(format!("{}/v1/resolve", self.edge.base))
            .bearer_auth(self.edge.token("service", "platform"))
            .json(&json!({"tenant": tenant, "provider": "anthropic"}))
            .send()
            .await
            .expect("resolve");
        let v: Value = resp.json().await.expect("json");
        (
            v["api_key"].as_str().unwrap_or_default().to_owned(),
            v["status"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

fn no_key_in(v: &Value, keys: &[&str]) {
    let text = v.to_string();
    for k in keys {
        assert!(!text.contains(k), "a key in an answer: {text}");
    }
}

#[test]
fn a_new_key_replaces_a_working_one_only_after_it_passes_or_by_the_users_choice() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let edge = Edge::start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let api = Api {
        edge: &edge,
        http: Client::new(),
        token: edge.token_with_sub("owner", "rep", "ada"),
    };
    let other = Api {
        edge: &edge,
        http: Client::new(),
        token: edge.token("owner", "rep-other"),
    };

    rt.block_on(async {
        let (s, v) = api
            .call(
                Method::POST,
                "/v1/integrations",
                Some(json!({"provider": "anthropic", "key": WORKS})),
            )
            .await;
        assert_eq!(
            (s.as_u16(), v["status"].as_str()),
            (201, Some("connected")),
            "{v}"
        );
        assert_eq!(v["key_version"], 1);

        // 1. A wrong paste over the working key: refused in words, nothing changes.
        let (s, p) = api.save(WRONG).await;
        assert_eq!(s, 422, "{p}");
        assert_eq!(p["type"], "/problems/key-refused");
        assert_eq!(p["failure"]["reason"], "wrong-key", "{p}");
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("stays in use"), "{detail}");
        assert!(detail.contains("paste it again"), "the next step: {detail}");
        no_key_in(&p, &[WRONG, WORKS]);
        assert_eq!(
            api.resolved("rep").await,
            (WORKS.to_owned(), "connected".to_owned())
        );
        let v = api.view().await;
        assert_eq!(
            (v["status"].as_str(), v["key_version"].as_u64()),
            (Some("connected"), Some(1))
        );
        assert!(v.get("pending").is_none(), "the refused key is gone: {v}");

        // 2. A new key whose test cannot conclude waits; the working key keeps serving.
        let (s, v) = api.save(UNCLEAR).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["status"], "connected");
        assert_eq!(v["pending"]["state"], "inconclusive", "{v}");
        assert_eq!(v["pending"]["saved_by"], "ada");
        assert_eq!(
            v["pending"]["last_test"]["failure"]["reason"],
            "unexpected-answer"
        );
        let pending = v["pending"]["version"].as_u64().expect("version");
        no_key_in(&v, &[UNCLEAR, WORKS]);
        assert_eq!(api.resolved("rep").await.0, WORKS, "never the untested key");

        // Another tenant cannot touch it; a stale version is refused.
        let (s, _) = other
            .call(
                Method::POST,
                "/v1/integrations/anthropic/pending/switch",
                Some(json!({"version": pending})),
            )
            .await;
        assert_eq!(s, 404, "another tenant has no such integration");
        let (s, p) = api
            .call(
                Method::POST,
                "/v1/integrations/anthropic/pending/switch",
                Some(json!({"version": pending + 5})),
            )
            .await;
        assert_eq!(s, 409, "{p}");
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("no longer the waiting key"),
            "{p}"
        );

        // Discarded: nothing else changes.
        let (s, v) = api
            .call(
                Method::DELETE,
                &format!("/v1/integrations/anthropic/pending?version={pending}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert!(v.get("pending").is_none());
        assert_eq!(api.resolved("rep").await.0, WORKS);

        // Or switched to anyway, by the user's explicit choice.
        let (s, v) = api.save(UNCLEAR_TOO).await;
        assert_eq!(s, 202, "{v}");
        let pending = v["pending"]["version"].as_u64().expect("version");
        let (s, v) = api
            .call(
                Method::POST,
                "/v1/integrations/anthropic/pending/switch",
                Some(json!({"version": pending})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["key_version"].as_u64(), Some(pending));
        assert_eq!(
            v["status"], "unverified",
            "still not concluded, and says so: {v}"
        );
        assert_eq!(
            api.resolved("rep").await,
            (UNCLEAR_TOO.to_owned(), "unverified".to_owned())
        );

        // 3. A key saved where none works (unverified) serves at once, as before...
        let (s, v) = api.save(WORKS).await;
        assert_eq!(
            (s.as_u16(), v["status"].as_str()),
            (200, Some("connected")),
            "{v}"
        );
        // ...and a working key is replaced by one that passes, keeping the integration.
        let (s, v) = api.save(ALSO_WORKS).await;
        assert_eq!(
            (s.as_u16(), v["status"].as_str()),
            (200, Some("connected")),
            "{v}"
        );
        assert!(v.get("pending").is_none());
        assert_eq!(api.resolved("rep").await.0, ALSO_WORKS);
        let installed_at = v["installed_at"].clone();
        assert_eq!(
            api.view().await["installed_at"],
            installed_at,
            "one stable integration"
        );

        // The history says who replaced the key, and why each change happened.
        let (_, h) = api
            .call(Method::GET, "/v1/integrations/anthropic/events", None)
            .await;
        let events = h["events"].as_array().cloned().unwrap_or_default();
        let replaced: Vec<&Value> = events
            .iter()
            .filter(|e| e["reason"]["cause"] == "key-replaced")
            .collect();
        assert_eq!(replaced.len(), 2, "the switch and the promotion: {h}");
        assert!(replaced.iter().all(|e| e["reason"]["by"] == "ada"), "{h}");
        assert_eq!(
            (replaced[0]["from"].as_str(), replaced[0]["to"].as_str()),
            (Some("connected"), Some("connected"))
        );
        no_key_in(&h, &[WORKS, ALSO_WORKS, UNCLEAR, UNCLEAR_TOO, WRONG]);

        // The audit log has every attempt, refused ones included.
        let (_, a) = api.call(Method::GET, "/v1/audit", None).await;
        let outcomes: Vec<String> = a["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == "replace-key")
            .map(|e| e["outcome"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            outcomes.iter().any(|o| o == "refused: wrong-key"),
            "{outcomes:?}"
        );
        assert!(
            outcomes.iter().any(|o| o.starts_with("replaced:")),
            "{outcomes:?}"
        );

        // 4. A v1 plugin (SendGrid) and v2 plugins (Anthropic, OpenAI) in the same Worker: the
        // v2 ones say why the provider refused, in the reason the user is given.
        let install = |provider: &'static str, key: &'static str| {
            other.call(
                Method::POST,
                "/v1/integrations",
                Some(json!({"provider": provider, "key": key})),
            )
        };
        let (s, v) = install("sendgrid", "SG.valid-replace-0000000000000000000000").await;
        assert_eq!(
            (s.as_u16(), v["status"].as_str()),
            (201, Some("connected")),
            "v1: {v}"
        );
        assert!(
            v["last_test"].get("hint").is_none(),
            "a v1 plugin says nothing more"
        );
        let (s, v) = install(
            "anthropic",
            "sk-ant-FAKE-billing-replace-00000000000000000000",
        )
        .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["last_test"]["hint"], "billing", "{v}");
        assert_eq!(v["last_test"]["failure"]["reason"], "billing", "{v}");
        let (s, v) = install("openai", "sk-test-proj-noscope-replace-000000000000").await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(
            v["last_test"]["missing_scopes"],
            json!(["api.model.read"]),
            "{v}"
        );
        assert!(
            v["last_test"]["failure"]["summary"]
                .as_str()
                .unwrap_or_default()
                .ends_with("needs: api.model.read."),
            "{v}"
        );

        // 5. Saves racing over the working key: exactly one winner, never a refused key.
        for round in 0..3 {
            let good = format!("sk-ant-FAKE-valid-race-{round}-0000000000000000000000000");
            let bad = format!("sk-ant-FAKE-badkey-race-{round}-000000000000000000000000");
            let (g, b) = tokio::join!(api.save(&good), api.save(&bad));
            assert!(matches!(g.0.as_u16(), 200 | 409), "good: {} {}", g.0, g.1);
            assert!(matches!(b.0.as_u16(), 422 | 409), "bad: {} {}", b.0, b.1);
            let (served, status) = api.resolved("rep").await;
            assert_ne!(served, bad, "a refused key never serves");
            assert_eq!(status, "connected");
            let v = api.view().await;
            assert!(v.get("pending").is_none(), "nothing left waiting: {v}");
            if g.0 == 200 {
                assert_eq!(served, good, "the key that passed serves");
            }
        }
    });
}
