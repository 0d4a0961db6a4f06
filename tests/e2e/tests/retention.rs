//! Retention under workerd (issue #24): the cron run (`GET /__scheduled`) removes audit rows,
//! status events and daily usage older than their periods, keeps each integration's newest
//! event and what is still being delivered, and a scheduled re-check that changes nothing is
//! counted rather than written to the audit log. A retention setting out of bounds removes
//! nothing and says which setting.

use std::time::{Duration, Instant};

use byok_e2e::{scheduled_run, Edge, EdgeConfig};
use byok_fake_providers::FakeProviders;
use reqwest::Client;
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-retention-00000000000000000000000";

/// Rows two years old, and some from this week, in every table retention looks after.
fn aged_rows(edge: &Edge) {
    // Each tenant's rows in its own database, the daily counts (no tenant) at home.
    edge.sql_in(
        &edge.binding_of("old-co"),
        "INSERT OR IGNORE INTO audit_log (at, actor, tenant, provider, action, outcome) VALUES
           ('2024-01-01T00:00:00.000Z', 'ada', 'old-co', 'openai', 'save-key', 'unverified'),
           ('2024-01-02T00:00:00.000Z', 'ada', 'old-co', 'openai', 'test', 'connected');
         INSERT OR IGNORE INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery) VALUES
           ('msg_old_first', 'old-co', 'openai', 'unverified', 'connected', '{\"cause\":\"test\"}', '2024-01-01T00:00:00.000Z', 'delivered'),
           ('msg_old_newest', 'old-co', 'openai', 'connected', 'invalid', '{\"cause\":\"recheck\"}', '2024-01-02T00:00:00.000Z', 'dead');
         INSERT OR IGNORE INTO usage_daily (day, tenant, provider, source, resolves) VALUES
           ('2024-01-01', 'old-co', 'openai', 'tenant', 10),
           ('2024-01-02', 'old-co', 'openai', 'platform', 3);",
    );
    edge.sql_in(
        &edge.binding_of("slow-co"),
        "INSERT OR IGNORE INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery) VALUES
           ('msg_old_pending', 'slow-co', 'openai', 'connected', 'invalid', '{\"cause\":\"recheck\"}', '2024-01-01T00:00:00.000Z', 'pending'),
           ('msg_old_before_pending', 'slow-co', 'openai', 'unverified', 'connected', '{\"cause\":\"test\"}', '2023-12-31T00:00:00.000Z', 'delivered');",
    );
    edge.sql_in(
        "DB",
        "INSERT OR IGNORE INTO recheck_daily (day, provider, outcome, checks) VALUES ('2024-01-01', 'openai', 'connected', 40);",
    );
}

#[test]
fn the_cron_removes_what_aged_out_keeps_what_explains_a_status_and_counts_quiet_rechecks() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let mut edge = EdgeConfig::default().start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let owner = edge.token("owner", "quiet");

    rt.block_on(async {
        // A working key: installed and tested (rows for what the owner did).
        let resp = Client::new()
            .post(format!("{}/v1/integrations", edge.base))
            .bearer_auth(&owner)
            .json(&json!({"provider": "anthropic", "key": KEY}))
            .send()
            .await
            .expect("install");
        assert_eq!(resp.status(), 201);
        let view: Value = resp.json().await.expect("json");
        assert_eq!(view["status"], "connected", "{view}");
    });
    let people_rows = edge.count("SELECT COUNT(*) AS n FROM audit_log WHERE tenant = 'quiet'");
    assert!(people_rows >= 2, "install and its test are audited");
    aged_rows(&edge);

    // 25 hours pass for the stored clock: the key is due, re-checked, and still works.
    edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000 WHERE tenant = 'quiet'");
    let checked_before = edge.query(
        "SELECT last_checked_at AS n FROM integrations WHERE tenant = 'quiet' AND provider = 'anthropic'",
    )[0]["n"]
        .as_f64()
        .unwrap_or_default();
    rt.block_on(scheduled_run(&edge.base));
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let now = edge.query(
            "SELECT last_checked_at AS n FROM integrations WHERE tenant = 'quiet' AND provider = 'anthropic'",
        )[0]["n"]
            .as_f64()
            .unwrap_or_default();
        if now > checked_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the due key was re-checked: {}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The quiet re-check: no audit row, one more in the day's count; the status unchanged.
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM audit_log WHERE tenant = 'quiet'"),
        people_rows,
        "an unchanged scheduled re-check writes no audit row"
    );
    assert_eq!(
        edge.count("SELECT checks AS n FROM recheck_daily WHERE provider = 'anthropic' AND outcome = 'connected' AND day >= '2026-01-01'"
        ),
        1,
        "it is counted for the day"
    );
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM status_events WHERE tenant = 'quiet' AND to_status = 'connected'"),
        1,
        "no new event"
    );

    // The same run removed what aged out, and kept what explains a status.
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM audit_log WHERE at < '2025-01-01'"),
        0,
        "aged audit rows removed: {}",
        edge.log()
    );
    // (From every database: sorted here, not by each query.)
    let mut events: Vec<String> = edge
        .query("SELECT id FROM status_events WHERE at < '2025-01-01'")
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    events.sort();
    assert_eq!(
        events,
        ["msg_old_newest", "msg_old_pending"],
        "each integration's newest event and the one still being delivered stay"
    );
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM usage_daily WHERE day < '2025-01-01'"),
        0
    );
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM recheck_daily WHERE day < '2025-01-01'"),
        0
    );
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM audit_log WHERE tenant = 'quiet'"),
        people_rows,
        "this week's rows stay"
    );
    // A retention setting out of bounds: nothing is removed, and the log says which setting.
    let mut config = edge.config().clone();
    config
        .extra_vars
        .push(("RETAIN_AUDIT_DAYS".into(), "7".into()));
    edge.restart(config);
    aged_rows(&edge);
    rt.block_on(scheduled_run(&edge.base));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !edge.log().contains("Retention is not configured") {
        assert!(
            Instant::now() < deadline,
            "the sweep says why it stopped: {}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(edge
        .log()
        .contains("RETAIN_AUDIT_DAYS must be a whole number of days from 30 to 3650"));
    assert_eq!(
        edge.count("SELECT COUNT(*) AS n FROM audit_log WHERE at < '2025-01-01'"),
        2,
        "nothing removed under a bad setting"
    );
}
