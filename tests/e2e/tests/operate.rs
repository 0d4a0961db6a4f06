//! Operating the Worker under workerd: rotating the master key end to end over two databases
//! (seal under A, rotate to B, restart, a reseal that fails in one database, reseal, drop A,
//! restart) and refusing to serve with weak settings.
//! Each test runs its own edge, since each restarts or misconfigures it.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use byok_e2e::{Edge, EdgeConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn call(
    edge: &Edge,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Client::new()
        .request(method, format!("{}{path}", edge.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The `byok` CLI, built by script/test (`byok keyring ...` is what an operator runs).
fn byok(args: &[&str], stdin: &str) -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| byok_e2e::root().join("target"));
    let mut child = Command::new(target.join("debug/byok"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("byok runs (built by script/test)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("byok");
    assert!(
        out.status.success(),
        "byok {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A provider with two secret fields, so that a rotation must re-seal more than the main key.
fn two_secret_entry() -> Value {
    json!({"name": "Two Secrets", "description": "A key and a signing secret.", "category": "AI",
    "auth_type": "key-pair", "credential_label": "API key", "help_url": "https://example.com/keys",
    "platform_fallback": true,
    "credential_fields": [
        {"name": "key", "label": "API key", "secret": true},
        {"name": "signing_secret", "label": "Signing secret", "secret": true},
        {"name": "region", "label": "Region", "secret": false, "required": false}
    ]})
}

#[test]
fn rotating_the_master_key_end_to_end() {
    let rt = runtime();
    let fakes = rt
        .block_on(byok_fake_providers::FakeProviders::start(0))
        .expect("fakes");
    // Two databases: a reseal writes one batch to each, and one of them can fail.
    let mut edge = EdgeConfig {
        keyring: byok(&["keyring", "new", "--id", "a"], ""),
        shards: 2,
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let admin = edge.token("platform-admin", "platform");

    // Rows sealed under A: tenants' keys, one with a second sealed field, and platform keys.
    let (s, _) = rt.block_on(call(
        &edge,
        Method::PUT,
        "/v1/admin/providers/two-secrets",
        &admin,
        Some(two_secret_entry()),
    ));
    assert!(s.is_success(), "two-secrets entry: {s}");
    let mut expected: BTreeMap<(String, String), Value> = BTreeMap::new();
    for i in 0..5 {
        let tenant = format!("rot-{i}");
        let key = format!("sk-ant-FAKE-valid-rotation-{i}-0000000000000000000000");
        let (s, v) = rt.block_on(call(
            &edge,
            Method::POST,
            "/v1/integrations",
            &edge.token("owner", &tenant),
            Some(json!({"provider": "anthropic", "key": key})),
        ));
        assert_eq!(s, StatusCode::CREATED, "install: {v}");
        expected.insert((tenant, "anthropic".into()), json!({"api_key": key}));
    }
    let (s, v) = rt.block_on(call(
        &edge,
        Method::POST,
        "/v1/integrations",
        &edge.token("owner", "rot-2"),
        Some(
            json!({"provider": "two-secrets", "key": "two-secrets-main-key-00000000000001",
            "fields": {"signing_secret": "two-secrets-signing-0000000000000002", "region": "eu"}}),
        ),
    ));
    assert_eq!(s, StatusCode::CREATED, "install two-secrets: {v}");
    expected.insert(
        ("rot-2".into(), "two-secrets".into()),
        json!({"api_key": "two-secrets-main-key-00000000000001",
            "fields": {"signing_secret": "two-secrets-signing-0000000000000002", "region": "eu"}}),
    );
    let platform_key = "sk-platform-openai-rotation-000000000000000000000000";
    let (s, v) = rt.block_on(call(
        &edge,
        Method::PUT,
        "/v1/admin/platform-keys/openai",
        &admin,
        Some(json!({"key": platform_key})),
    ));
    assert!(s.is_success(), "platform key: {v}");
    expected.insert(
        ("rot-nobody".into(), "openai".into()),
        json!({"api_key": platform_key}),
    );
    let masks_before = masks(&rt, &edge, &expected);

    let (_, report) = rt.block_on(call(&edge, Method::GET, "/v1/admin/keyring", &admin, None));
    assert_eq!(report["primary"], "a", "{report}");
    assert_eq!(
        report["remaining"], 0,
        "nothing to do before a rotation: {report}"
    );

    // Rotate to B with the CLI (the document travels on stdin), restart with it.
    let rotated = byok(&["keyring", "rotate", "--id", "b"], &edge.config().keyring);
    assert_eq!(byok(&["keyring", "ids"], &rotated), "a\nb (primary)");
    let mut config_b = edge.config().clone();
    config_b.keyring = rotated.clone();
    edge.restart(config_b);

    let (_, report) = rt.block_on(call(&edge, Method::GET, "/v1/admin/keyring", &admin, None));
    assert_eq!(report["primary"], "b", "{report}");
    let a = key_status(&report, "a");
    assert_eq!(a["integrations"], 6, "{report}");
    assert_eq!(a["platform_keys"], 1, "{report}");
    assert_eq!(report["remaining"], 7, "{report}");
    // Before any reseal, old rows still read (A opens them) and a new save uses B.
    resolve_all(&rt, &edge, &expected);

    // A reseal whose write fails in the second database, after the first database's batch
    // and the platform key are written: a trigger there aborts every update of a stored key.
    let rows_in = |binding: &str| -> u64 {
        edge.query_in(binding, "SELECT COUNT(*) AS n FROM integrations")[0]["n"]
            .as_u64()
            .expect("count")
    };
    let (home_rows, second_rows) = (rows_in("DB"), rows_in("DB_1"));
    assert!(
        home_rows > 0 && second_rows > 0 && home_rows + second_rows == 6,
        "the six keys are in both databases: {home_rows} + {second_rows}"
    );
    edge.sql_in(
        "DB_1",
        "CREATE TRIGGER injected_failure BEFORE UPDATE ON integrations \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    );
    let r = rt
        .block_on(
            Client::new()
                .post(format!("{}/v1/admin/keyring/reseal", edge.base))
                .bearer_auth(&admin)
                .json(&json!({"batch": 500}))
                .send(),
        )
        .expect("reseal");
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = rt.block_on(r.text()).expect("body");
    assert!(
        status.is_server_error(),
        "a failed write is an error, never a success: {status} {body}"
    );
    assert_eq!(content_type, "application/problem+json", "{body}");
    for secret in expected.values() {
        assert!(
            !body.contains(secret["api_key"].as_str().expect("key")),
            "no key in the error"
        );
    }
    // The report still counts what the failed database holds under A: nobody drops A on it.
    let (s, report) = rt.block_on(call(&edge, Method::GET, "/v1/admin/keyring", &admin, None));
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        key_status(&report, "a")["integrations"],
        second_rows,
        "{report}"
    );
    assert_eq!(
        key_status(&report, "b")["integrations"],
        home_rows,
        "{report}"
    );
    assert_eq!(key_status(&report, "b")["platform_keys"], 1, "{report}");
    assert_eq!(report["remaining"], second_rows, "{report}");
    // Nothing was lost: with the database mended, every key still opens, from either key.
    edge.sql_in("DB_1", "DROP TRIGGER injected_failure");
    resolve_all(&rt, &edge, &expected);

    // Reseal in passes of 2, following `next`, until nothing remains: only what the failed
    // pass left under A.
    let mut after = Value::Null;
    let (mut rows, mut platform, mut passes) = (0, 0, 0);
    loop {
        let mut body = json!({"batch": 2});
        if !after.is_null() {
            body["after"] = after.clone();
        }
        let (s, pass) = rt.block_on(call(
            &edge,
            Method::POST,
            "/v1/admin/keyring/reseal",
            &admin,
            Some(body),
        ));
        assert_eq!(s, StatusCode::OK, "reseal: {pass}");
        assert_eq!(pass["primary"], "b");
        assert_eq!(pass["unreadable"], json!([]), "{pass}");
        rows += pass["resealed"].as_u64().expect("resealed");
        platform += pass["platform_keys_resealed"].as_u64().expect("platform");
        passes += 1;
        assert!(passes <= 10, "reseal does not finish: {pass}");
        after = pass.get("next").cloned().unwrap_or(Value::Null);
        if after.is_null() {
            assert_eq!(pass["remaining"], json!({}), "{pass}");
            break;
        }
    }
    assert_eq!(
        (rows + home_rows, platform),
        (6, 0),
        "every sealed row once, over both passes"
    );
    assert!(
        passes as u64 >= second_rows.div_ceil(2),
        "batches of 2 take several passes"
    );
    let (_, report) = rt.block_on(call(&edge, Method::GET, "/v1/admin/keyring", &admin, None));
    assert_eq!(report["remaining"], 0, "{report}");
    assert_eq!(key_status(&report, "a")["integrations"], 0);
    assert_eq!(key_status(&report, "b")["integrations"], 6);
    assert_eq!(key_status(&report, "b")["platform_keys"], 1);
    resolve_all(&rt, &edge, &expected);
    assert_eq!(
        masks(&rt, &edge, &expected),
        masks_before,
        "masks do not change"
    );
    // A second pass finds nothing to do.
    let (_, again) = rt.block_on(call(
        &edge,
        Method::POST,
        "/v1/admin/keyring/reseal",
        &admin,
        None,
    ));
    assert_eq!(
        (
            again["resealed"].as_u64(),
            again["platform_keys_resealed"].as_u64()
        ),
        (Some(0), Some(0)),
        "{again}"
    );

    // Drop A, restart: everything still resolves, tests still run (artifacts re-derived).
    let dropped = byok(&["keyring", "drop", "--id", "a"], &rotated);
    assert_eq!(byok(&["keyring", "ids"], &dropped), "b (primary)");
    let mut config_c = edge.config().clone();
    config_c.keyring = dropped;
    edge.restart(config_c);
    let (_, report) = rt.block_on(call(&edge, Method::GET, "/v1/admin/keyring", &admin, None));
    let ids: Vec<&str> = report["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids, ["b"], "{report}");
    resolve_all(&rt, &edge, &expected);
    let (s, v) = rt.block_on(call(
        &edge,
        Method::POST,
        "/v1/integrations/anthropic/test",
        &edge.token("owner", "rot-0"),
        None,
    ));
    assert_eq!(s, StatusCode::OK, "test after the rotation: {v}");
    assert_eq!(
        v["status"], "connected",
        "the plugin runs under the new key: {v}"
    );
}

fn key_status<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == id))
        .unwrap_or_else(|| panic!("key {id} listed: {report}"))
}

/// Every expected (tenant, provider) resolves to its original key and fields.
fn resolve_all(
    rt: &tokio::runtime::Runtime,
    edge: &Edge,
    expected: &BTreeMap<(String, String), Value>,
) {
    for ((tenant, provider), want) in expected {
        let (s, got) = rt.block_on(call(
            edge,
            Method::POST,
            "/v1/resolve",
            &edge.token("service", "platform"),
            Some(json!({"tenant": tenant, "provider": provider})),
        ));
        assert_eq!(s, StatusCode::OK, "resolve {tenant}/{provider}: {got}");
        assert!(
            got["api_key"] == want["api_key"],
            "{tenant}/{provider}: the original key comes back"
        );
        if let Some(fields) = want.get("fields") {
            assert!(got["fields"] == *fields, "{tenant}/{provider}: fields");
        }
    }
}

/// The masks the tenants see, by (tenant, provider).
fn masks(
    rt: &tokio::runtime::Runtime,
    edge: &Edge,
    expected: &BTreeMap<(String, String), Value>,
) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (tenant, provider) in expected.keys() {
        if tenant == "rot-nobody" {
            continue;
        }
        let (_, list) = rt.block_on(call(
            edge,
            Method::GET,
            "/v1/integrations",
            &edge.token("owner", tenant),
            None,
        ));
        let item = list["integrations"]
            .as_array()
            .and_then(|l| l.iter().find(|i| i["provider"] == provider.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        out.insert((tenant.clone(), provider.clone()), item["mask"].clone());
    }
    out
}

#[test]
fn weak_or_missing_settings_refuse_authenticated_routes() {
    let rt = runtime();
    let short = "0123456789abcdef0123456789abcde"; // 31 bytes
    let edge = EdgeConfig {
        auth_secret: short.into(),
        dev_mode: false,
        ..EdgeConfig::default()
    }
    .start();
    // Liveness and the pages need no secret.
    let (s, _) = rt.block_on(call(&edge, Method::GET, "/healthz", "x", None));
    assert_eq!(s, StatusCode::OK);
    let token = edge.token_with("owner", "weak", 600, short);
    let (s, v) = rt.block_on(call(&edge, Method::GET, "/v1/integrations", &token, None));
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_eq!(v["type"], "/problems/misconfigured", "{v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("AUTH_SECRET") && detail.contains("32 bytes"),
        "names the setting and the rule: {detail}"
    );
    assert!(!v.to_string().contains(short), "never the value");
    drop(edge);

    // One secret for both kinds of token is refused too.
    let defaults = EdgeConfig::default();
    let edge = EdgeConfig {
        service_secret: defaults.auth_secret.clone(),
        ..defaults
    }
    .start();
    let (s, v) = rt.block_on(call(
        &edge,
        Method::GET,
        "/v1/providers",
        &edge.token("owner", "same"),
        None,
    ));
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("SERVICE_AUTH_SECRET must differ"),
        "{v}"
    );
}

#[test]
fn private_egress_is_refused_outside_development() {
    let rt = runtime();
    let edge = EdgeConfig {
        dev_mode: false,
        ..EdgeConfig::default()
    }
    .start();
    let admin = edge.token("platform-admin", "platform");
    let entry = |host: &str, scheme: &str| {
        let mut e = two_secret_entry();
        e["egress"] = json!([{"scheme": scheme, "host": host, "port": 8443}]);
        e
    };
    for (host, scheme) in [
        ("127.0.0.1", "http"),
        ("169.254.169.254", "https"),
        ("10.0.0.8", "https"),
        ("[::1]", "https"),
        ("localhost", "https"),
    ] {
        let (s, v) = rt.block_on(call(
            &edge,
            Method::PUT,
            "/v1/admin/providers/private-egress",
            &admin,
            Some(entry(host, scheme)),
        ));
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{host}: {v}");
        assert!(
            v.to_string().contains("egress[0].host") && v.to_string().contains("private-host"),
            "{host}: names the field and the rule: {v}"
        );
    }
    let (s, v) = rt.block_on(call(
        &edge,
        Method::PUT,
        "/v1/admin/providers/private-egress",
        &admin,
        Some(entry("api.example.com", "https")),
    ));
    assert!(s.is_success(), "a public host is fine: {v}");
}
