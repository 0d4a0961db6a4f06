//! Tenants over two D1 databases (issue #24, past one database), under workerd: each tenant's
//! rows land in the database `byok_core::shard` gives it and nowhere else, every tenant route
//! reads and writes there, and what looks across tenants (the fleet, the audit search with its
//! paging, the cron's re-checks, the usage view, the keyring report, the dead letters) sees
//! both databases as one.

use std::collections::BTreeSet;
use std::time::Duration;

use byok_core::shard::ShardMap;
use byok_e2e::{scheduled_run, shard_names, wait_for, EdgeConfig};
use byok_fake_providers::FakeProviders;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Two tenant ids the map puts in each database.
fn tenants_by_database(map: &ShardMap) -> [Vec<String>; 2] {
    let mut by = [Vec::new(), Vec::new()];
    for i in 0.. {
        let t = format!("shard-tenant-{i}");
        let s = map.shard_of(&t);
        if by[s].len() < 2 {
            by[s].push(t);
        }
        if by.iter().all(|v| v.len() == 2) {
            break;
        }
    }
    by
}

fn key_of(tenant: &str) -> String {
    format!("sk-ant-FAKE-valid-{tenant}-00000000000000000000000000")
}

#[test]
fn two_databases_serve_as_one_and_each_tenant_lives_in_exactly_one() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let edge = EdgeConfig {
        shards: 2,
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let b = edge.base.as_str();
    let names = shard_names(2);
    let map = ShardMap::parse(Some(&names.join(","))).expect("map");
    let by_db = tenants_by_database(&map);
    let everyone: Vec<String> = by_db.iter().flatten().cloned().collect();
    let admin = edge.token("platform-admin", "platform");
    let service = edge.token("service", "platform");

    rt.block_on(async {
        // Each tenant installs with its own key: stored, tested, connected.
        for tenant in &everyone {
            let (s, v) = call(b, reqwest::Method::POST, "/v1/integrations", &edge.token("owner", tenant),
                Some(json!({"provider": "anthropic", "key": key_of(tenant)}))).await;
            assert_eq!(s, 201, "{tenant}: {v}");
            assert_eq!(v["status"], "connected", "{tenant}: {v}");
        }
        // Its rows are in its database, and only there; the other database holds the entry's
        // key (so its rows may reference it), never the entry.
        for (i, binding) in names.iter().enumerate() {
            let held: BTreeSet<String> = edge
                .query_in(binding, "SELECT tenant FROM integrations")
                .iter()
                .filter_map(|r| r["tenant"].as_str().map(str::to_owned))
                .collect();
            let expected: BTreeSet<String> = by_db[i].iter().cloned().collect();
            assert_eq!(held, expected, "{binding} holds exactly its tenants");
            let audit_tenants: BTreeSet<String> = edge
                .query_in(binding, "SELECT DISTINCT tenant FROM audit_log WHERE tenant IS NOT NULL")
                .iter()
                .filter_map(|r| r["tenant"].as_str().map(str::to_owned))
                .collect();
            assert!(audit_tenants.is_subset(&expected), "{binding}'s audit rows are its tenants': {audit_tenants:?}");
        }
        let anchor = edge.query_in("DB_1", "SELECT spec FROM integration_providers WHERE key = 'anthropic'");
        assert_eq!(anchor.len(), 1);
        assert_eq!(anchor[0]["spec"], "{}", "the other database keeps only the key");

        // Every tenant route reads its own database: the list, resolve, the history.
        for tenant in &everyone {
            let owner = edge.token("owner", tenant);
            let (_, list) = call(b, reqwest::Method::GET, "/v1/integrations", &owner, None).await;
            assert_eq!(list["integrations"][0]["status"], "connected", "{tenant}: {list}");
            assert_eq!(list["integrations"][0]["name"], "Anthropic", "the entry from home: {list}");
            let (s, v) = call(b, reqwest::Method::POST, "/v1/resolve", &service,
                Some(json!({"tenant": tenant, "provider": "anthropic"}))).await;
            assert_eq!(s, 200, "{tenant}: {v}");
            assert_eq!(v["source"], "tenant");
            assert_eq!(v["api_key"], key_of(tenant), "{tenant} resolves its own key");
            let (s, events) = call(b, reqwest::Method::GET, "/v1/integrations/anthropic/events", &owner, None).await;
            assert_eq!(s, 200);
            assert_eq!(events["events"][0]["to"], "connected", "{events}");
        }

        // The fleet adds both databases up.
        let (_, fleet) = call(b, reqwest::Method::GET, "/v1/admin/fleet", &admin, None).await;
        assert_eq!(fleet["providers"]["anthropic"]["connected"], 4, "{fleet}");

        // The audit search across databases: ids never repeat, newest first, and paging one
        // row at a time walks exactly the rows of the whole search.
        let (_, all) = call(b, reqwest::Method::GET, "/v1/admin/audit?limit=500&action=install", &admin, None).await;
        let all: Vec<Value> = all["entries"].as_array().cloned().unwrap_or_default();
        let seen: BTreeSet<String> = all.iter().filter_map(|e| e["tenant"].as_str().map(str::to_owned)).collect();
        assert_eq!(seen, everyone.iter().cloned().collect(), "every tenant's install, from both databases: {all:?}");
        let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().expect("id")).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no id twice: {ids:?}");
        let mut paged = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                None => "/v1/admin/audit?limit=1&action=install".to_owned(),
                Some(id) => format!("/v1/admin/audit?limit=1&action=install&before={id}"),
            };
            let (s, page) = call(b, reqwest::Method::GET, &path, &admin, None).await;
            assert_eq!(s, 200, "{page}");
            paged.extend(page["entries"].as_array().cloned().unwrap_or_default().iter().map(|e| e["id"].as_i64().expect("id")));
            match page["next_before"].as_i64() {
                Some(next) => before = Some(next),
                None => break,
            }
            assert!(paged.len() <= ids.len(), "paging ends");
        }
        assert_eq!(paged, ids, "paging walks the same rows in the same order");
        let one = &by_db[1][0];
        let (_, theirs) = call(b, reqwest::Method::GET, &format!("/v1/admin/audit?tenant={one}"), &admin, None).await;
        let theirs = theirs["entries"].as_array().cloned().unwrap_or_default();
        assert!(!theirs.is_empty() && theirs.iter().all(|e| e["tenant"] == one.as_str()), "{theirs:?}");

        // Usage lands in each tenant's database, and the admin view reads both.
        tokio::time::sleep(Duration::from_secs(4)).await;
        for (i, binding) in names.iter().enumerate() {
            let n = edge.query_in(binding, "SELECT COUNT(*) AS n FROM usage_daily")[0]["n"].as_u64().unwrap_or(0);
            assert!(n >= 2, "{binding}: its tenants' resolves were counted there ({n})");
            let strays = edge.query_in(binding, &format!(
                "SELECT COUNT(*) AS n FROM usage_daily WHERE tenant NOT IN ({})",
                by_db[i].iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(",")
            ))[0]["n"].as_u64().unwrap_or(1);
            assert_eq!(strays, 0, "{binding} holds no other tenant's usage");
        }
        let (_, usage) = call(b, reqwest::Method::GET, "/v1/admin/usage", &admin, None).await;
        let used: BTreeSet<String> = usage["usage"].as_array().cloned().unwrap_or_default().iter()
            .filter_map(|u| u["tenant"].as_str().map(str::to_owned)).collect();
        assert_eq!(used, everyone.iter().cloned().collect(), "{usage}");

        // The keyring report counts the keys in both databases.
        let (_, ring) = call(b, reqwest::Method::GET, "/v1/admin/keyring", &admin, None).await;
        let under: u64 = ring["keys"].as_array().cloned().unwrap_or_default().iter()
            .filter_map(|k| k["integrations"].as_u64()).sum();
        assert_eq!(under, 4, "{ring}");

        // The cron reads both databases: a revoked key in each is found, and each row is
        // updated where it lives.
        let revoked = [&by_db[0][0], &by_db[1][0]];
        for t in revoked {
            fakes.revoke(&key_of(t));
        }
        edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000");
        scheduled_run(b).await;
        wait_for("both revoked keys to be found invalid", || async {
            let mut invalid = 0;
            for t in revoked {
                let (_, list) = call(b, reqwest::Method::GET, "/v1/integrations", &edge.token("owner", t), None).await;
                invalid += usize::from(list["integrations"][0]["status"] == "invalid");
            }
            invalid == 2
        })
        .await;
        let (_, fleet) = call(b, reqwest::Method::GET, "/v1/admin/fleet", &admin, None).await;
        assert_eq!(fleet["providers"]["anthropic"]["connected"], 2, "{fleet}");
        assert_eq!(fleet["providers"]["anthropic"]["invalid"], 2, "{fleet}");
        let failing: BTreeSet<String> = fleet["failing"].as_array().cloned().unwrap_or_default().iter()
            .filter_map(|f| f["tenant"].as_str().map(str::to_owned)).collect();
        assert_eq!(failing, revoked.iter().map(|t| t.to_string()).collect(), "{fleet}");
        assert_eq!(fleet["last_run"]["candidates"], 4, "the run read every due key in both: {fleet}");
    });
}
