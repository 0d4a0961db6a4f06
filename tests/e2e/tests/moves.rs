//! Adding a database to a deployment that has tenants (docs/capacity.md, "Adding a database"),
//! under workerd over three local D1 databases: tenants spread over `DB` and `DB_1`; the move
//! to `DB,DB_1,DB_2` pauses changes for the tenants that change database while everyone keeps
//! reading and resolving; `byok moves copy` copies them; once `D1_SHARDS` lists all three they
//! are served from `DB_2` with every key, event, audit row and usage count; `byok moves prune`
//! removes what the old databases kept about them, and never a tenant's rows it did not copy.

use std::process::Output;

use byok_core::shard::ShardMap;
use byok_e2e::{Edge, EdgeConfig};
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "sk-ant-FAKE-valid-moves-000000000000000000000000000000";

async fn call(
    edge: &Edge,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Client::new()
        .request(method, format!("{}{path}", edge.base))
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
    (status, resp.json().await.unwrap_or(Value::Null), retry)
}

/// Runs `byok moves STEP` against the edge as a platform admin.
fn moves(edge: &Edge, step: &str) -> Output {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        });
    std::process::Command::new(target.join("debug/byok"))
        .args(["moves", step, "--url", &edge.base, "--token"])
        .arg(edge.token("platform-admin", "platform"))
        .output()
        .expect("byok runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn with_vars(edge: &Edge, vars: &[(&str, &str)]) -> EdgeConfig {
    let mut config = edge.config().clone();
    config
        .extra_vars
        .retain(|(k, _)| k != "D1_SHARDS" && k != "D1_SHARDS_NEXT");
    config
        .extra_vars
        .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    config
}

/// How many rows `binding` holds about `tenant` in a table.
fn rows(edge: &Edge, binding: &str, table: &str, tenant: &str) -> u64 {
    edge.query_in(
        binding,
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant = '{tenant}'"),
    )
    .first()
    .and_then(|r| r["n"].as_u64())
    .unwrap_or(0)
}

#[test]
fn a_database_added_to_a_deployment_with_tenants_takes_its_share_and_loses_nothing() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let mut edge = EdgeConfig {
        shards: 3,
        extra_vars: vec![("D1_SHARDS".into(), "DB,DB_1".into())],
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let before = ShardMap::parse(Some("DB,DB_1")).expect("map");
    let after = ShardMap::parse(Some("DB,DB_1,DB_2")).expect("map");
    let tenants: Vec<String> = (0..8).map(|i| format!("move-{i}")).collect();
    let (moving, staying): (Vec<&String>, Vec<&String>) = tenants
        .iter()
        .partition(|t| after.names()[after.shard_of(t)] == "DB_2");
    assert!(
        !moving.is_empty() && !staying.is_empty(),
        "some tenants move, some stay: {moving:?}"
    );
    let old_home = |t: &str| before.names()[before.shard_of(t)].clone();
    let service = edge.token("service", "platform");

    // Every tenant has a connected key, an event, audit rows, a policy and usage.
    rt.block_on(async {
        for t in &tenants {
            let (s, v, _) = call(
                &edge,
                Method::POST,
                "/v1/integrations",
                &edge.token("owner", t),
                Some(json!({"provider": "anthropic", "key": KEY})),
            )
            .await;
            assert_eq!(s, 201, "{t}: {v}");
            assert_eq!(v["status"], "connected", "{v}");
            let (s, v, _) = call(
                &edge,
                Method::PUT,
                &format!("/v1/admin/tenants/{t}/providers/anthropic/policy"),
                &edge.token("platform-admin", "platform"),
                Some(json!({"platform_fallback": "never"})),
            )
            .await;
            assert_eq!(s, 200, "{t}: {v}");
            let (s, v, _) = call(
                &edge,
                Method::POST,
                "/v1/resolve",
                &service,
                Some(json!({"tenant": t, "provider": "anthropic"})),
            )
            .await;
            assert_eq!(s, 200, "{t}: {v}");
        }
        byok_e2e::wait_for("usage counted for every tenant", || async {
            tenants
                .iter()
                .all(|t| rows(&edge, &old_home(t), "usage_daily", t) > 0)
        })
        .await;
    });
    let dump = |edge: &Edge, binding: &str, t: &str| -> Vec<String> {
        [
            "integrations",
            "status_events",
            "audit_log",
            "tenant_policies",
        ]
        .iter()
        .flat_map(|table| {
            edge.query_in(
                binding,
                &format!("SELECT * FROM {table} WHERE tenant = '{t}' ORDER BY 1, 2"),
            )
            .into_iter()
            .map(move |r| format!("{table}: {r}"))
        })
        .collect()
    };
    let originals: Vec<(String, Vec<String>)> = moving
        .iter()
        .map(|t| (t.to_string(), dump(&edge, &old_home(t), t)))
        .collect();

    // No move under way: nothing to copy.
    let out = moves(&edge, "copy");
    assert!(
        !out.status.success() && text(&out).contains("No move is under way"),
        "{}",
        text(&out)
    );

    // The move begins: DB_2 is bound and listed as next.
    edge.restart(with_vars(
        &edge,
        &[("D1_SHARDS", "DB,DB_1"), ("D1_SHARDS_NEXT", "DB,DB_1,DB_2")],
    ));
    let m = moving[0].as_str();
    let s = staying[0].as_str();
    rt.block_on(async {
        // A moving tenant reads and resolves, and its changes wait, saying so.
        let (st, v, retry) = call(
            &edge,
            Method::PUT,
            "/v1/integrations/anthropic/credential",
            &edge.token("owner", m),
            Some(json!({"key": KEY})),
        )
        .await;
        assert_eq!(st, 503, "{v}");
        assert!(
            v["type"].as_str().is_some_and(|t| t.ends_with("/moving")),
            "{v}"
        );
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| d.contains("being moved")),
            "{v}"
        );
        assert_eq!(retry.as_deref(), Some("60"));
        let (st, v, _) = call(
            &edge,
            Method::GET,
            "/v1/integrations",
            &edge.token("owner", m),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["integrations"][0]["status"], "connected", "{v}");
        let (st, v, _) = call(
            &edge,
            Method::POST,
            "/v1/resolve",
            &service,
            Some(json!({"tenant": m, "provider": "anthropic"})),
        )
        .await;
        assert_eq!(
            (st, v["api_key"].as_str()),
            (StatusCode::OK, Some(KEY)),
            "{v}"
        );
        let (st, v, _) = call(
            &edge,
            Method::PUT,
            &format!("/v1/admin/tenants/{m}/policy"),
            &edge.token("platform-admin", "platform"),
            Some(json!({"platform_daily_cap": 5})),
        )
        .await;
        assert_eq!(st, 503, "an admin's change waits too: {v}");
        // Changes across tenants wait; a tenant that stays is not paused.
        let (st, v, _) = call(
            &edge,
            Method::POST,
            "/v1/admin/keyring/reseal",
            &edge.token("platform-admin", "platform"),
            None,
        )
        .await;
        assert_eq!(st, 503, "{v}");
        let (st, v, _) = call(
            &edge,
            Method::POST,
            "/v1/integrations/anthropic/test",
            &edge.token("owner", s),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        // The moving tenant's usage is counted where it is going.
        byok_e2e::wait_for("usage of the moving tenant lands in DB_2", || async {
            rows(&edge, "DB_2", "usage_daily", m) > 0
        })
        .await;
    });

    // The copy, twice: the second finds everything copied.
    let out = moves(&edge, "copy");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("copy: {} tenant(s) copied", moving.len())),
        "{}",
        text(&out)
    );
    for t in &moving {
        assert!(
            text(&out).contains(&format!("{t} copied to DB_2")),
            "{}",
            text(&out)
        );
    }
    assert!(!text(&out).contains(KEY), "no key in what the copy prints");
    let again = moves(&edge, "copy");
    assert!(
        again.status.success() && text(&again).contains("copy: 0 tenant(s) copied"),
        "{}",
        text(&again)
    );
    let out = moves(&edge, "prune");
    assert!(
        !out.status.success() && text(&out).contains("waits until the move is done"),
        "{}",
        text(&out)
    );

    // A write that reaches a source after its copy, behind the move's back (an isolate that
    // had not yet seen D1_SHARDS_NEXT): the prune must not delete it.
    let late = moving.first().expect("a moving tenant").as_str();
    assert_ne!(late, moving.last().expect("two moving tenants").as_str());
    edge.sql_in(
        &old_home(late),
        &format!("UPDATE integrations SET mask = 'sk-…late' WHERE tenant = '{late}'"),
    );

    // The list changes: the moved tenants are served from DB_2, as they were.
    edge.restart(with_vars(&edge, &[("D1_SHARDS", "DB,DB_1,DB_2")]));
    for (t, rows_before) in &originals {
        assert_eq!(
            &dump(&edge, "DB_2", t),
            rows_before,
            "{t}: every row, as it was"
        );
    }
    let used_before = rows(&edge, &old_home(m), "usage_daily", m);
    rt.block_on(async {
        for t in &moving {
            let (st, v, _) = call(
                &edge,
                Method::POST,
                "/v1/resolve",
                &service,
                Some(json!({"tenant": t, "provider": "anthropic"})),
            )
            .await;
            assert_eq!(
                (st, v["api_key"].as_str()),
                (StatusCode::OK, Some(KEY)),
                "{t}: {v}"
            );
            let (st, v, _) = call(
                &edge,
                Method::POST,
                "/v1/integrations/anthropic/test",
                &edge.token("owner", t),
                None,
            )
            .await;
            assert_eq!(
                (st, v["status"].as_str()),
                (StatusCode::OK, Some("connected")),
                "{t}: {v}"
            );
        }
        // The usage counted before the move and during it, together.
        let (st, v, _) = call(
            &edge,
            Method::GET,
            "/v1/admin/usage",
            &edge.token("platform-admin", "platform"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
    });
    assert!(used_before > 0);
    let resolves = |binding: &str| -> u64 {
        edge.query_in(
            binding,
            &format!(
                "SELECT COALESCE(SUM(resolves), 0) AS n FROM usage_daily WHERE tenant = '{m}'"
            ),
        )[0]["n"]
            .as_u64()
            .unwrap_or(0)
    };
    // One before the move, one during it, one after: all three counted in DB_2.
    rt.block_on(byok_e2e::wait_for(
        "every resolve of the moved tenant counted in DB_2",
        || async { resolves("DB_2") >= 3 },
    ));

    // A row about a moved tenant the copy never saw (written behind the service's back) is
    // kept by the prune, which names it and exits 1.
    let stray = moving.last().expect("a moving tenant").as_str();
    edge.sql_in(&old_home(stray), &format!("INSERT INTO tenant_caps (tenant, platform_daily_cap, updated_at, updated_by) VALUES ('stray-{stray}', 1, 'x', 'x')"));
    let stray_tenant = format!("stray-{stray}");
    let stray_home = after.names()[after.shard_of(&stray_tenant)].clone();
    let out = moves(&edge, "prune");
    assert!(!out.status.success(), "something is kept: {}", text(&out));
    if stray_home != old_home(stray) {
        assert!(
            text(&out).contains(&format!("kept {stray_tenant}")),
            "{}",
            text(&out)
        );
        assert_eq!(
            rows(&edge, &old_home(stray), "tenant_caps", &stray_tenant),
            1,
            "kept"
        );
    }
    // The late write is kept, named, with why; its tenant's other rows there too.
    assert!(
        text(&out).contains(&format!("kept {late}")) && text(&out).contains("changed after"),
        "{}",
        text(&out)
    );
    assert_eq!(
        edge.query_in(
            &old_home(late),
            &format!("SELECT mask FROM integrations WHERE tenant = '{late}'")
        )[0]["mask"],
        "sk-…late",
        "the late write is still there"
    );
    assert!(rows(&edge, &old_home(late), "audit_log", late) > 0);
    assert!(
        text(&out).contains(&format!("{} tenant(s) removed", moving.len() - 1)),
        "{}",
        text(&out)
    );
    // The operator compares and deletes it by hand; the prune then has nothing to keep.
    for table in [
        "integrations",
        "status_events",
        "audit_log",
        "tenant_policies",
        "tenant_caps",
        "usage_daily",
    ] {
        edge.sql_in(
            &old_home(late),
            &format!("DELETE FROM {table} WHERE tenant = '{late}'"),
        );
    }
    for t in &moving {
        for table in [
            "integrations",
            "status_events",
            "audit_log",
            "tenant_policies",
            "usage_daily",
        ] {
            assert_eq!(
                rows(&edge, &old_home(t), table, t),
                0,
                "{t}: {table} pruned from {}",
                old_home(t)
            );
            assert!(
                table == "status_events"
                    || table == "tenant_policies"
                    || rows(&edge, "DB_2", table, t) > 0,
                "{t}: {table} in DB_2"
            );
        }
    }
    for t in &staying {
        assert_eq!(
            rows(&edge, &old_home(t), "integrations", t),
            1,
            "{t} untouched"
        );
    }
    // One row per key in the fleet's counts, across the three databases.
    let fleet = edge.count("SELECT COALESCE(SUM(n), 0) AS n FROM fleet_counts");
    assert_eq!(
        fleet,
        tenants.len() as u64,
        "the fleet counts each key once"
    );
}
