//! Keys over time, under workerd: the cron run (`GET /__scheduled`, wrangler's scheduled
//! testing) queues the stored keys that are due, the queue's consumer re-tests them, a status
//! change becomes an event in the integration's history and a Standard Webhooks delivery to a
//! receiver on loopback, retried with the same id until it is accepted.

use std::time::{Duration, Instant};

use byok_core::webhook::{verify, WebhookSecret};
use byok_e2e::EdgeConfig;
use byok_fake_providers::webhooks::WebhookReceiver;
use byok_fake_providers::FakeProviders;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-recheck-0000000000000000000000000";

async fn get(base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let resp = Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn integration(base: &str, token: &str) -> Value {
    let (_, list) = get(base, "/v1/integrations", token).await;
    list["integrations"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["provider"] == "anthropic").cloned())
        .unwrap_or(Value::Null)
}

async fn scheduled_run(base: &str) {
    let resp = Client::new()
        .get(format!("{base}/__scheduled"))
        .send()
        .await
        .expect("scheduled");
    assert_eq!(
        resp.status(),
        200,
        "wrangler dev runs with --test-scheduled"
    );
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_scheduled_recheck_finds_a_revoked_key_and_the_platform_is_told_by_a_signed_webhook() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    // The receiver fails each event's first two deliveries, then accepts.
    let receiver = rt.block_on(WebhookReceiver::start(2)).expect("receiver");
    let edge = EdgeConfig {
        webhook_url: Some(receiver.url()),
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let secret = WebhookSecret::parse(&edge.config().webhook_secret).expect("secret");
    let owner = edge.token("owner", "acme");
    let member = edge.token("member", "acme");
    let b = edge.base.as_str();

    rt.block_on(async {
        // Install with a key: saved (disconnected -> unverified), tested (-> connected).
        let resp = Client::new()
            .post(format!("{b}/v1/integrations"))
            .bearer_auth(&owner)
            .json(&json!({"provider": "anthropic", "key": KEY}))
            .send()
            .await
            .expect("install");
        assert_eq!(resp.status(), 201);
        let view: Value = resp.json().await.expect("json");
        assert_eq!(view["status"], "connected", "{view}");

        // Two events, each delivered on its third attempt.
        wait_for("two accepted deliveries", || async {
            receiver.deliveries().iter().filter(|d| d.answered == 204).count() >= 2
        })
        .await;
        let seen = receiver.deliveries();
        let mut ids: Vec<&str> = seen.iter().filter_map(|d| d.header("webhook-id")).collect();
        ids.dedup();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2, "two events: {seen:?}");
        let delivered: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        for id in ids {
            let attempts: Vec<u16> = seen
                .iter()
                .filter(|d| d.header("webhook-id") == Some(id))
                .map(|d| d.answered)
                .collect();
            assert_eq!(attempts, vec![500, 500, 204], "the same id on every retry");
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        for d in &seen {
            verify(
                &secret,
                d.header("webhook-id"),
                d.header("webhook-timestamp"),
                d.header("webhook-signature"),
                &d.body,
                now,
            )
            .expect("every delivery is signed with WEBHOOK_SECRET");
            let other = WebhookSecret::from_bytes(&[9u8; 32]).expect("secret");
            assert!(verify(
                &other,
                d.header("webhook-id"),
                d.header("webhook-timestamp"),
                d.header("webhook-signature"),
                &d.body,
                now
            )
            .is_err());
            let body: Value = serde_json::from_slice(&d.body).expect("JSON body");
            assert_eq!(body["type"], "integration.status_changed");
            assert!(!String::from_utf8_lossy(&d.body).contains(KEY), "never the key");
        }

        // The history, newest first, for any member of the tenant.
        let (s, events) = get(b, "/v1/integrations/anthropic/events", &member).await;
        assert_eq!(s, 200, "{events}");
        let list = events["events"].as_array().expect("events").clone();
        assert_eq!(list.len(), 2, "{events}");
        assert_eq!((&list[0]["from"], &list[0]["to"]), (&json!("unverified"), &json!("connected")));
        assert_eq!(list[0]["reason"], json!({"cause": "test", "verdict": "connected"}));
        assert_eq!(list[1]["reason"]["cause"], "key-saved");
        for e in &list {
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            assert!(delivered.contains(&id), "the history names the webhook id: {e}");
        }
        let (s, _) = get(b, "/v1/integrations/openai/events", &member).await;
        assert_eq!(s, 404, "not installed");
        let (s, _) = get(b, "/v1/integrations/anthropic/events", &edge.token("owner", "other")).await;
        assert_eq!(s, 404, "another tenant sees nothing of acme's");

        // A Test says where its time went.
        let r = Client::new()
            .post(format!("{b}/v1/integrations/anthropic/test"))
            .bearer_auth(&owner)
            .send()
            .await
            .expect("test");
        let timing = r
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        for span in ["d1-read;dur=", "plugin-load;dur=", "run;dur=", "fetch;dur=", "d1-write;dur="] {
            assert!(timing.contains(span), "Server-Timing has {span}: {timing}");
        }

        // A run now re-tests nothing: the key was checked a moment ago.
        let checked = integration(b, &owner).await["updated_at"].clone();
        scheduled_run(b).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(integration(b, &owner).await["updated_at"], checked, "not due yet");

        // The key is revoked at the provider; 25 hours pass for the stored clock.
        fakes.revoke(KEY);
        edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000 WHERE tenant = 'acme'");
        scheduled_run(b).await;
        wait_for("the re-check to mark the key invalid", || async {
            integration(b, &owner).await["status"] == "invalid"
        })
        .await;
        let row = integration(b, &owner).await;
        assert!(row["failing_since"].is_string(), "{row}");
        assert!(row["last_verified_at"].is_string(), "{row}");

        let (_, events) = get(b, "/v1/integrations/anthropic/events", &member).await;
        let newest = &events["events"][0];
        assert_eq!((&newest["from"], &newest["to"]), (&json!("connected"), &json!("invalid")));
        // It had worked, so the reason is a revocation, and the words say it may have leaked.
        assert_eq!(
            newest["reason"],
            json!({"cause": "recheck", "verdict": "invalid-credential", "failure": "revoked"})
        );
        assert_eq!(newest["failure"]["reason"], "revoked");
        assert!(newest["failure"]["next_step"].as_str().unwrap_or_default().contains("leaked"), "{newest}");
        let id = newest["id"].as_str().expect("id").to_owned();
        wait_for("the invalid event's delivery", || async {
            receiver
                .deliveries()
                .iter()
                .any(|d| d.header("webhook-id") == Some(id.as_str()) && d.answered == 204)
        })
        .await;

        // Audited as the scheduler; and a second run at once re-tests nothing.
        scheduled_run(b).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, audit) = get(b, "/v1/audit", &owner).await;
        let by_scheduler = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["actor"] == "scheduler" && e["action"] == "test")
            .count();
        assert_eq!(by_scheduler, 1, "one re-test, however many runs: {audit}");
    });
}

/// Rows a re-check cannot test (review M2), entries without a test plugin (L11), and webhook
/// events that stopped moving (L4), as the cron meets them.
#[test]
fn rows_that_cannot_be_tested_back_off_plugin_less_entries_are_skipped_and_stalled_events_die() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let edge = EdgeConfig::default().start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let b = edge.base.as_str();
    let stuck = edge.token("owner", "stuck");
    let fine = edge.token("owner", "fine");
    let admin = edge.token("platform-admin", "platform");
    let checked = |tenant: &str, provider: &str| -> (i64, i64, String) {
        let rows = edge.query(&format!(
            "SELECT last_checked_at, transient_failures, status FROM integrations WHERE tenant = '{tenant}' AND provider = '{provider}'"
        ));
        let r = rows.first().cloned().unwrap_or(Value::Null);
        (
            r["last_checked_at"].as_i64().unwrap_or(-1),
            r["transient_failures"].as_i64().unwrap_or(-1),
            r["status"].as_str().unwrap_or_default().to_owned(),
        )
    };

    rt.block_on(async {
        for (token, provider, key) in [
            (&stuck, "anthropic", KEY),
            (&fine, "anthropic", KEY),
            (&fine, "openai", "sk-FAKE-valid-recheck-openai-000000000000000000"),
        ] {
            let resp = Client::new()
                .post(format!("{b}/v1/integrations"))
                .bearer_auth(token)
                .json(&json!({"provider": provider, "key": key}))
                .send()
                .await
                .expect("install");
            assert_eq!(resp.status(), 201, "{provider}: {}", resp.text().await.unwrap_or_default());
        }
        // stuck's stored key no longer opens (a keyring without its key, or an altered row);
        // OpenAI's entry loses its test plugin; every key is 25 hours overdue.
        edge.sql("UPDATE integrations SET secret = randomblob(length(secret)) WHERE tenant = 'stuck'");
        edge.sql("UPDATE integration_providers SET spec = json_remove(spec, '$.test_plugin') WHERE key = 'openai'");
        edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000");
        // A webhook event left pending since 1 November: its attempts stopped long ago.
        edge.sql("INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery, attempts, attempted_at)
                  VALUES ('msg_0123456789abcdef0123456789abcdef', 'fine', 'anthropic', 'connected', 'invalid',
                          '{\"cause\":\"recheck\"}', '2026-11-01T00:00:00.000Z', 'pending', 1, 1793491200000)");
        let (stuck_before, _, _) = checked("stuck", "anthropic");
        let (fine_before, _, _) = checked("fine", "anthropic");
        let (openai_before, _, _) = checked("fine", "openai");

        scheduled_run(b).await;
        wait_for("both anthropic rows to be re-checked", || async {
            checked("stuck", "anthropic").0 > stuck_before
                && checked("fine", "anthropic").0 > fine_before
        })
        .await;
        let (stuck_at, stuck_failures, stuck_status) = checked("stuck", "anthropic");
        assert_eq!(stuck_failures, 1, "backs off as after an inconclusive check");
        assert_eq!(stuck_status, "connected", "a key we cannot open is not declared invalid");
        let (_, audit) = get(b, "/v1/audit?by=automated", &stuck).await;
        let entries = audit["entries"].as_array().cloned().unwrap_or_default();
        assert!(
            entries.iter().any(|e| e["action"] == "recheck" && e["actor"] == "scheduler"
                && e["outcome"].as_str().is_some_and(|o| o.starts_with("not checked:") && o.contains("could not be decrypted"))),
            "the owner can see why: {audit}"
        );
        assert!(!audit.to_string().contains(KEY));
        assert_eq!(checked("fine", "openai").0, openai_before, "no test plugin: never re-checked");

        // The next run queues neither: stuck waits out its backoff, openai has no cadence.
        let lines = |log: String| log.matches("queue invocation").count();
        let invocations = lines(edge.log());
        scheduled_run(b).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(checked("stuck", "anthropic").0, stuck_at, "not re-queued every run");
        assert_eq!(checked("fine", "openai").0, openai_before);
        assert_eq!(lines(edge.log()), invocations, "nothing was queued: {}", edge.log());

        // The stalled event became a dead letter an admin can see and send again.
        let (s, dead) = get(b, "/v1/admin/webhooks?delivery=dead", &admin).await;
        assert_eq!(s, 200, "{dead}");
        assert!(
            dead["events"].as_array().is_some_and(|l| l.iter().any(|e| e["id"] == "msg_0123456789abcdef0123456789abcdef")),
            "{dead}"
        );

        // The owner's view of what people did leaves the scheduler out; by actor, only it.
        let (_, people) = get(b, "/v1/audit?by=people", &stuck).await;
        let people = people["entries"].as_array().cloned().unwrap_or_default();
        assert!(!people.is_empty() && people.iter().all(|e| e["actor"] != "scheduler" && e["actor"] != "usage-report"));
        let (_, only) = get(b, "/v1/audit?actor=scheduler", &stuck).await;
        let only = only["entries"].as_array().cloned().unwrap_or_default();
        assert!(!only.is_empty() && only.iter().all(|e| e["actor"] == "scheduler"));
        let (s, _) = get(b, "/v1/audit?by=everyone", &stuck).await;
        assert_eq!(s, 422);
    });
}
