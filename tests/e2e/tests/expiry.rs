//! Keys that expire (issue #21, part 3), under workerd with the cron's clock injected
//! (`/cdn-cgi/local/scheduled?time=<ms>`, the local runtime's trigger route): notices 14 days and 1 day before
//! and at expiry, once each, in the history and as signed webhooks of their own types.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use byok_e2e::EdgeConfig;
use byok_fake_providers::webhooks::WebhookReceiver;
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-expiry-00000000000000000000000000";
const DAY: u64 = 86_400_000;

fn rfc3339(ms: u64) -> String {
    // Whole seconds, UTC, via the same core function the Worker uses.
    byok_core::timestamp::rfc3339_millis(ms)
}

#[test]
fn expiry_notices_fire_14_days_and_1_day_before_and_at_expiry_once_each() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let receiver = rt.block_on(WebhookReceiver::start(0)).expect("receiver");
    let edge = EdgeConfig {
        webhook_url: Some(receiver.url()),
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let owner = edge.token("owner", "exp");
    let http = Client::new();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{}{path}", edge.base))
            .bearer_auth(&owner);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let cron_at = |ms: u64| {
        // Miniflare's trigger route takes the run's time; wrangler's /__scheduled does not.
        let url = format!("{}/cdn-cgi/local/scheduled?time={ms}", edge.base);
        let http = http.clone();
        async move {
            let resp = http.get(url).send().await.expect("scheduled");
            assert_eq!(resp.status(), 200);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let expires = (now / 1000 + 20 * 86_400) * 1000;

    rt.block_on(async {
        // A date in the past is refused in words; a malformed one too.
        for (bad, says) in [
            ("2001-01-01", "already expired"),
            ("next week", "YYYY-MM-DD"),
        ] {
            let (s, p) = call(
                Method::POST,
                "/v1/integrations",
                Some(json!({"provider": "anthropic", "key": KEY, "expires_at": bad})),
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert!(
                p["detail"].as_str().unwrap_or_default().contains(says),
                "{p}"
            );
        }
        let (s, v) = call(
            Method::POST,
            "/v1/integrations",
            Some(json!({"provider": "anthropic", "key": KEY, "expires_at": rfc3339(expires)})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["expires_at"], rfc3339(expires));

        let history = || async {
            let (_, h) = call(Method::GET, "/v1/integrations/anthropic/events", None).await;
            h["events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["reason"]["cause"] == "expiry")
                .map(|e| {
                    e["reason"]["expiry"]["stage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        };
        // Twenty days ahead: nothing yet. Thirteen days ahead: the 14-day notice, once.
        cron_at(now + 2 * DAY).await;
        assert!(history().await.is_empty());
        cron_at(expires - 13 * DAY).await;
        cron_at(expires - 13 * DAY + 600_000).await;
        assert_eq!(history().await, ["soon"]);
        // Within a day, then past it.
        cron_at(expires - DAY / 2).await;
        cron_at(expires + 60_000).await;
        cron_at(expires + 120_000).await;
        assert_eq!(
            history().await,
            ["expired", "tomorrow", "soon"],
            "newest first, once each"
        );

        // Each was delivered as a signed webhook of its own type, with the expiry.
        let deadline = Instant::now() + Duration::from_secs(30);
        let types = loop {
            let types: Vec<(String, String)> = receiver
                .deliveries()
                .iter()
                .filter_map(|d| serde_json::from_slice::<Value>(&d.body).ok())
                .filter(|b| b["data"]["reason"]["cause"] == "expiry")
                .map(|b| {
                    (
                        b["type"].as_str().unwrap_or_default().to_owned(),
                        b["data"]["reason"]["expiry"]["expires_at"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
                .collect();
            if types.len() >= 3 || Instant::now() > deadline {
                break types;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut kinds: Vec<&str> = types.iter().map(|(t, _)| t.as_str()).collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                "integration.key_expired",
                "integration.key_expiring",
                "integration.key_expiring"
            ]
        );
        assert!(types.iter().all(|(_, at)| *at == rfc3339(expires)));

        // A new date for the same key (the mask sent back): its notices start again.
        let (_, v) = call(Method::GET, "/v1/integrations", None).await;
        let mask = v["integrations"][0]["mask"]["masked"].clone();
        let later = expires + 30 * DAY;
        let (s, v) = call(
            Method::PUT,
            "/v1/integrations/anthropic/credential",
            Some(json!({"key": mask, "expires_at": rfc3339(later)})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["expires_at"], rfc3339(later));
        assert_eq!(v["key_version"], 1, "the same key, not a new one");
        cron_at(later - 10 * DAY).await;
        assert_eq!(history().await.first().map(String::as_str), Some("soon"));
    });
}
