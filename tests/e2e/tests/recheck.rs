//! Keys over time, under workerd: the cron run (`GET /__scheduled`, wrangler's scheduled
//! testing) queues the stored keys that are due, the queue's consumer re-tests them, a status
//! change becomes an event in the integration's history and a Standard Webhooks delivery to a
//! receiver on loopback, retried with the same id until it is accepted.

use std::time::Duration;

use byok_core::webhook::{verify, WebhookSecret};
use byok_e2e::{scheduled_run, wait_for, EdgeConfig};
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
        edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000 WHERE tenant = 'acme'");
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
        let plugin = edge.query("SELECT json_extract(spec, '$.test_plugin') AS p FROM integration_providers WHERE key = 'openai'")[0]["p"]
            .as_str()
            .expect("openai has a test plugin")
            .to_owned();
        edge.sql("UPDATE integration_providers SET spec = json_remove(spec, '$.test_plugin') WHERE key = 'openai'");
        edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000");
        // A webhook event left pending since 1 November: its attempts stopped long ago.
        edge.sql_in(&edge.binding_of("fine"), "INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery, attempts, attempted_at)
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
        // Nor does it read them (issue #24): each row stored its next time, the plugin-less
        // one parked for a day, so a run's reads stay flat however many keys wait.
        let (_, fleet) = get(b, "/v1/admin/fleet", &admin).await;
        assert_eq!(fleet["last_run"]["candidates"], 0, "{fleet}");
        let day_ahead = format!(
            "SELECT COUNT(*) AS n FROM integrations WHERE tenant = 'fine' AND provider = 'openai'
               AND next_check_at > {}",
            byok_e2e::now_ms() + 23 * 3_600_000
        );
        assert_eq!(edge.count(&day_ahead), 1, "parked for a day");
        // The entry gets its plugin back: its keys are picked up when they come round again.
        edge.sql(&format!(
            "UPDATE integration_providers SET spec = json_set(spec, '$.test_plugin', json('{plugin}')) WHERE key = 'openai'"
        ));
        edge.sql("UPDATE integrations SET next_check_at = next_check_at - 90000000 WHERE provider = 'openai'");
        scheduled_run(b).await;
        wait_for("the unparked key to be re-checked", || async {
            checked("fine", "openai").0 > openai_before
        })
        .await;

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

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = Client::new().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// The console's backend (issue #23): an admin sees the fleet, re-checks a key now through the
/// cron's own queue (re-test, event, webhook with a fix link), tries keys on an entry without
/// storing them, retires and restores an entry, and searches the audit log across tenants;
/// members and owners reach none of it.
#[test]
fn an_admin_sees_the_fleet_rechecks_a_key_now_tries_keys_and_searches_the_audit_log() {
    use reqwest::Method;
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let receiver = rt.block_on(WebhookReceiver::start(0)).expect("receiver");
    let edge = EdgeConfig {
        webhook_url: Some(receiver.url()),
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let owner = edge.token("owner", "fleet");
    let member = edge.token("member", "fleet");
    let admin = edge.token_with_sub("platform-admin", "platform", "ada-admin");
    let b = edge.base.as_str();
    let key = "sk-ant-FAKE-valid-fleet-00000000000000000000000000";

    rt.block_on(async {
        // Every console route is for platform admins only.
        for (method, path) in [
            (Method::GET, "/v1/admin/providers"),
            (Method::GET, "/v1/admin/fleet"),
            (Method::GET, "/v1/admin/audit"),
            (Method::POST, "/v1/admin/providers/anthropic/restore"),
            (Method::POST, "/v1/admin/providers/anthropic/try"),
            (Method::GET, "/v1/admin/platform-keys"),
            (Method::POST, "/v1/admin/platform-keys/anthropic/test"),
            (
                Method::POST,
                "/v1/admin/tenants/fleet/integrations/anthropic/recheck",
            ),
        ] {
            for token in [&owner, &member] {
                let (status, _) = call(
                    method.clone(),
                    format!("{b}{path}"),
                    token,
                    Some(json!({"key": key})),
                )
                .await;
                assert_eq!(status, 403, "{method} {path}");
            }
        }

        let (status, view) = call(
            Method::POST,
            format!("{b}/v1/integrations"),
            &owner,
            Some(json!({"provider": "anthropic", "key": key})),
        )
        .await;
        assert_eq!(status, 201, "{view}");
        let (_, fleet) = get(b, "/v1/admin/fleet", &admin).await;
        assert_eq!(fleet["providers"]["anthropic"]["connected"], 1, "{fleet}");
        assert_eq!(
            fleet["providers"]["stripe"]["connected"], 0,
            "every entry is counted"
        );
        assert_eq!(fleet["failing"], json!([]));

        // Revoked at the provider; the admin re-checks now, through the queue.
        fakes.revoke(key);
        let (status, _) = call(
            Method::POST,
            format!("{b}/v1/admin/tenants/fleet/integrations/anthropic/recheck"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 202);
        wait_for("the re-check to mark the key invalid", || async {
            integration(b, &owner).await["status"] == "invalid"
        })
        .await;
        let (_, fleet) = get(b, "/v1/admin/fleet", &admin).await;
        assert_eq!(fleet["providers"]["anthropic"]["invalid"], 1, "{fleet}");
        let failing = &fleet["failing"][0];
        assert_eq!(
            (&failing["tenant"], &failing["provider"]),
            (&json!("fleet"), &json!("anthropic"))
        );
        assert!(
            failing["why"].as_str().is_some_and(|w| !w.is_empty()),
            "{failing}"
        );
        assert!(failing["failing_since"].is_string(), "{failing}");
        // The webhook says how to mint the link that fixes it.
        wait_for("the invalid event's delivery", || async {
            receiver.deliveries().iter().any(|d| {
                serde_json::from_slice::<Value>(&d.body).is_ok_and(|v| {
                    v["data"]["to"] == "invalid"
                        && v["fix"]["body"] == json!({"tenant": "fleet", "provider": "anthropic"})
                })
            })
        })
        .await;
        let (_, missing) = call(
            Method::POST,
            format!("{b}/v1/admin/tenants/nobody/integrations/anthropic/recheck"),
            &admin,
            None,
        )
        .await;
        assert!(missing.contains("no saved key"), "{missing}");

        // Try a key on the entry: the real test path, nothing stored, the key never echoed.
        let fresh = "sk-ant-FAKE-valid-try-000000000000000000000000000000";
        let (status, text) = call(
            Method::POST,
            format!("{b}/v1/admin/providers/anthropic/try"),
            &admin,
            Some(json!({"key": fresh})),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(
            !text.contains(fresh) && !text.contains("try-0000"),
            "the key is never echoed"
        );
        let tried: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(tried["report"]["verdict"], "connected", "{tried}");
        assert_eq!(tried["exchange"][0]["status"], 200, "{tried}");
        assert!(tried["exchange"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://127.0.0.1")));
        let (_, text) = call(
            Method::POST,
            format!("{b}/v1/admin/providers/anthropic/try"),
            &admin,
            Some(json!({"key": key})),
        )
        .await;
        let tried: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(tried["report"]["verdict"], "invalid-credential", "{tried}");
        assert_eq!(
            integration(b, &owner).await["status"],
            "invalid",
            "a try changes no tenant's key"
        );

        // The platform key: tested through the real path, its status and last use listed.
        let (status, text) = call(
            Method::POST,
            format!("{b}/v1/admin/platform-keys/anthropic/test"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("No platform key is set"), "{text}");
        let platform = "sk-ant-FAKE-valid-platform-00000000000000000000000000";
        let (status, text) = call(
            Method::PUT,
            format!("{b}/v1/admin/platform-keys/anthropic"),
            &admin,
            Some(json!({"key": platform})),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let listed = |v: &Value| {
            v["platform_keys"]
                .as_array()
                .and_then(|a| a.iter().find(|k| k["provider"] == "anthropic").cloned())
                .unwrap_or(Value::Null)
        };
        let (_, keys) = get(b, "/v1/admin/platform-keys", &admin).await;
        let row = listed(&keys);
        assert_eq!(row["status"], Value::Null, "untested since set: {keys}");
        assert_eq!(row["verified_at"], Value::Null, "{keys}");
        assert!(row["mask"]["masked"].is_string(), "{keys}");
        assert!(!keys.to_string().contains(platform), "masked only");
        let (status, text) = call(
            Method::POST,
            format!("{b}/v1/admin/platform-keys/anthropic/test"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains(platform), "the key is never echoed");
        let tested: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(tested["status"], "connected", "{tested}");
        assert_eq!(tested["report"]["verdict"], "connected", "{tested}");
        let (_, keys) = get(b, "/v1/admin/platform-keys", &admin).await;
        assert_eq!(listed(&keys)["status"], "connected", "{keys}");
        assert_eq!(
            listed(&keys)["verified_at"],
            tested["verified_at"],
            "{keys}"
        );
        // A tenant with no key of its own resolves to it: its last use is today.
        let service = edge.token("service", "platform");
        let (status, text) = call(
            Method::POST,
            format!("{b}/v1/resolve"),
            &service,
            Some(json!({"tenant": "no-key-of-its-own", "provider": "anthropic"})),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"platform\""), "{text}");
        let today = byok_core::usage::day_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        );
        wait_for("the platform key's last use", || {
            let (b, admin, today) = (b.to_owned(), admin.clone(), today.clone());
            async move {
                let (_, keys) = get(&b, "/v1/admin/platform-keys", &admin).await;
                listed(&keys)["last_used"] == json!(today)
            }
        })
        .await;
        // Replaced: untested again.
        let (status, _) = call(
            Method::PUT,
            format!("{b}/v1/admin/platform-keys/anthropic"),
            &admin,
            Some(json!({"key": "sk-ant-FAKE-valid-platform-11111111111111111111111111"})),
        )
        .await;
        assert_eq!(status, 200);
        let (_, keys) = get(b, "/v1/admin/platform-keys", &admin).await;
        assert_eq!(listed(&keys)["status"], Value::Null, "{keys}");

        // Retire and restore, with the retired entry still in the console's list.
        let (status, _) = call(
            Method::DELETE,
            format!("{b}/v1/admin/providers/stripe"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (_, all) = get(b, "/v1/admin/providers", &admin).await;
        let stripe = all["providers"]
            .as_array()
            .and_then(|p| p.iter().find(|e| e["key"] == "stripe").cloned());
        assert_eq!(stripe.map(|s| s["active"].clone()), Some(json!(false)));
        let (status, _) = call(
            Method::POST,
            format!("{b}/v1/admin/providers/stripe/restore"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (_, catalog) = get(b, "/v1/providers", &owner).await;
        assert!(
            catalog.to_string().contains("\"stripe\""),
            "back in the Marketplace"
        );
        let (status, _) = call(
            Method::POST,
            format!("{b}/v1/admin/providers/stripe/restore"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 404, "restoring an active entry");

        // The audit log, searched across tenants, and exported.
        let (_, found) = get(b, "/v1/admin/audit?tenant=fleet&action=recheck-now", &admin).await;
        let entries = found["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{found}");
        assert_eq!(entries[0]["actor"], "ada-admin");
        let (_, by_admin) = get(b, "/v1/admin/audit?actor=ada-admin&limit=2", &admin).await;
        assert_eq!(by_admin["entries"].as_array().map(Vec::len), Some(2));
        assert!(
            by_admin["next_before"].is_number(),
            "a full page says where the next starts"
        );
        let (status, bad) = get(b, "/v1/admin/audit?tennant=fleet", &admin).await;
        assert_eq!(status, 422);
        assert_eq!(bad["errors"][0]["field"], "tennant");
        let csv = Client::new()
            .get(format!("{b}/v1/admin/audit?provider=stripe&format=csv"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("csv");
        assert!(csv.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv"));
        let text = csv.text().await.expect("text");
        assert!(
            text.starts_with("at,actor,tenant,provider,action,outcome\r\n"),
            "{text}"
        );
        assert!(
            text.contains(",ada-admin,,stripe,restore-provider,restored\r\n"),
            "{text}"
        );
    });
}
