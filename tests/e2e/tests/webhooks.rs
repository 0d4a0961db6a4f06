//! Webhooks that never get through: after the last attempt the event is dead, platform admins
//! find it (with its attempts) in `GET /v1/admin/webhooks`, the dead letters, and once the
//! receiver is mended they send it again with `POST /v1/admin/webhooks/{id}/redeliver`.

use std::time::{Duration, Instant};

use byok_e2e::EdgeConfig;
use byok_fake_providers::webhooks::WebhookReceiver;
use byok_fake_providers::FakeProviders;
use reqwest::Client;
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-deadletter-00000000000000000000000";

/// Runs the `byok` binary (built by `script/build-plugins`) against the edge; its stdout.
fn byok(args: &[&str], base: &str, token: &str) -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        });
    let out = std::process::Command::new(target.join("debug/byok"))
        .args(args)
        .args(["--url", base, "--token", token])
        .output()
        .expect("byok runs");
    assert!(
        out.status.success(),
        "byok {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_webhook_that_always_fails_is_dead_after_its_last_attempt_and_listed_for_admins() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    // The receiver refuses everything; three attempts per event.
    let receiver = rt
        .block_on(WebhookReceiver::start(1_000))
        .expect("receiver");
    let edge = EdgeConfig {
        webhook_url: Some(receiver.url()),
        webhook_max_attempts: 3,
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let b = edge.base.as_str();
    let admin = edge.token("platform-admin", "platform");
    let get = |path: String, token: String| async move {
        let r = Client::new()
            .get(format!("{b}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };

    rt.block_on(async {
        let r = Client::new()
            .post(format!("{b}/v1/integrations"))
            .bearer_auth(edge.token("owner", "acme"))
            .json(&json!({"provider": "anthropic", "key": KEY}))
            .send()
            .await
            .expect("install");
        assert_eq!(r.status(), 201);

        let deadline = Instant::now() + Duration::from_secs(45);
        let dead = loop {
            let (s, v) = get("/v1/admin/webhooks".into(), admin.clone()).await;
            assert_eq!(s, 200, "{v}");
            if v["events"].as_array().is_some_and(|e| e.len() == 2) {
                break v;
            }
            assert!(Instant::now() < deadline, "two dead letters: {v}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(dead["delivery"], "dead");
        for e in dead["events"].as_array().expect("events") {
            assert_eq!(e["attempts"], 3, "{e}");
            assert_eq!(e["tenant"], "acme");
            let id = e["id"].as_str().expect("id");
            let tries = receiver
                .deliveries()
                .iter()
                .filter(|d| d.header("webhook-id") == Some(id))
                .count();
            assert_eq!(tries, 3, "three deliveries of {id}, then no more");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            receiver.deliveries().len(),
            6,
            "nothing after the last attempt"
        );

        let (s, v) = get(
            "/v1/admin/webhooks?delivery=delivered".into(),
            admin.clone(),
        )
        .await;
        assert_eq!(
            (s.as_u16(), v["events"].as_array().map(Vec::len)),
            (200, Some(0)),
            "{v}"
        );
        let (s, v) = get("/v1/admin/webhooks?delivery=lost".into(), admin.clone()).await;
        assert_eq!(s, 422, "{v}");
        let (s, _) = get("/v1/admin/webhooks".into(), edge.token("owner", "acme")).await;
        assert_eq!(s, 403, "tenants do not see the platform's deliveries");

        // The receiver is mended: one dead letter is sent again, as a new series with the
        // same id and the same body.
        receiver.fail_first(0);
        let events = dead["events"].as_array().expect("events");
        let id = events[0]["id"].as_str().expect("id").to_owned();
        let first_body = receiver
            .deliveries()
            .into_iter()
            .find(|d| d.header("webhook-id") == Some(id.as_str()))
            .expect("an earlier attempt")
            .body;
        let post = |path: String, token: String| async move {
            let r = Client::new()
                .post(format!("{b}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("post");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        };
        let redeliver = format!("/v1/admin/webhooks/{id}/redeliver");
        let (s, _) = post(redeliver.clone(), edge.token("owner", "acme")).await;
        assert_eq!(s, 403, "only platform admins redeliver");
        let (s, v) = post(redeliver.clone(), admin.clone()).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(
            (&v["id"], &v["delivery"], &v["attempts"]),
            (&json!(id), &json!("pending"), &json!(0))
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = get(
                "/v1/admin/webhooks?delivery=delivered".into(),
                admin.clone(),
            )
            .await;
            let delivered = v["events"].as_array().cloned().unwrap_or_default();
            if let Some(e) = delivered.iter().find(|e| e["id"] == json!(id)) {
                assert_eq!(
                    e["attempts"], 1,
                    "delivered at the first attempt of the new series: {e}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the redelivery arrives: {v}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let accepted: Vec<_> = receiver
            .deliveries()
            .into_iter()
            .filter(|d| d.header("webhook-id") == Some(id.as_str()) && d.answered == 204)
            .collect();
        assert_eq!(accepted.len(), 1, "received once");
        assert_eq!(
            accepted[0].body, first_body,
            "the same body as the attempts that failed"
        );
        let (s, v) = get("/v1/admin/webhooks".into(), admin.clone()).await;
        assert_eq!(
            v["events"].as_array().map(Vec::len),
            Some(1),
            "one dead letter left: {s} {v}"
        );

        // The other one from the command line, as an operator would.
        let other = events[1]["id"].as_str().expect("id").to_owned();
        let listed = byok(&["webhook", "list"], b, &admin);
        assert!(
            listed.contains(&other) && !listed.contains(&id),
            "byok webhook list shows the one dead letter left: {listed}"
        );
        let said = byok(&["webhook", "redeliver", &other], b, &admin);
        assert!(said.contains("queued again"), "{said}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = get("/v1/admin/webhooks".into(), admin.clone()).await;
            if v["events"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            assert!(Instant::now() < deadline, "no dead letters left: {v}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // No such event; an id the service never makes.
        let (s, v) = post(
            "/v1/admin/webhooks/msg_00000000000000000000000000000000/redeliver".into(),
            admin.clone(),
        )
        .await;
        assert_eq!(s, 404, "{v}");
        let (s, _) = post("/v1/admin/webhooks/nope/redeliver".into(), admin.clone()).await;
        assert_eq!(s, 404);
    });
}
