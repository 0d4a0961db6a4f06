//! The restore drill (#20 §2), under workerd: keys are stored and tested, `script/backup`
//! exports D1 and the uploaded plugins and logos, `script/restore` imports them into a new
//! local D1/KV, and the Worker started over it with the same keyring resolves and tests every
//! key as before. A restore over a database with data, or from a backup that changed since it
//! was taken, is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use byok_e2e::{Edge, EdgeConfig};
use byok_fake_providers::FakeProviders;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const ANTHROPIC: &str = "sk-ant-FAKE-valid-drill-00000000000000000000000000000";
const STRIPE: &str = "sk_test_FAKE_valid_drill_000000000000000000000000";

async fn call(
    base: &str,
    method: Method,
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

fn script(name: &str, args: &[&str]) -> Output {
    Command::new(byok_e2e::root().join("script").join(name))
        .args(args)
        .env("BYOK_ROOT", byok_e2e::root())
        .output()
        .unwrap_or_else(|e| panic!("script/{name}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The drill's keys: one tenant in each of the edge's databases.
fn drill_keys(edge: &Edge) -> [(String, &'static str, &'static str); 2] {
    let in_db = |binding: &str| {
        (0..)
            .map(|i| format!("drill-{i}"))
            .find(|t| edge.binding_of(t) == binding)
            .expect("a tenant")
    };
    [
        (in_db("DB"), "anthropic", ANTHROPIC),
        (in_db("DB_1"), "stripe", STRIPE),
    ]
}

/// Every key answers as it did: the tenant's own, and it tests as connected.
async fn every_key_resolves_and_tests(edge: &Edge) {
    let service = edge.token("service", "platform");
    for (tenant, provider, key) in drill_keys(edge) {
        let tenant = tenant.as_str();
        let (s, v) = call(
            &edge.base,
            Method::POST,
            "/v1/resolve",
            &service,
            Some(json!({"tenant": tenant, "provider": provider})),
        )
        .await;
        assert_eq!(s, 200, "{tenant}/{provider}: {v}");
        assert_eq!(
            (v["source"].as_str(), v["api_key"].as_str()),
            (Some("tenant"), Some(key)),
            "{tenant}"
        );
        let owner = edge.token("owner", tenant);
        let (s, v) = call(
            &edge.base,
            Method::POST,
            &format!("/v1/integrations/{provider}/test"),
            &owner,
            None,
        )
        .await;
        assert_eq!(s, 200, "{tenant}/{provider} test: {v}");
        assert_eq!(
            v["status"], "connected",
            "{tenant}/{provider}: the plugin ran from the restored KV: {v}"
        );
    }
}

fn only_child(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("backups")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "one backup folder: {entries:?}");
    entries[0].clone()
}

#[test]
fn a_backup_restores_into_a_new_database_and_every_key_still_resolves_and_tests() {
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    // Two databases, whatever BYOK_E2E_SHARDS says, with a tenant in each: the backup must
    // hold both, and the restore put each back under its own binding.
    let mut edge = EdgeConfig {
        shards: 2,
        ..EdgeConfig::default()
    }
    .start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let [(in_db, ..), (in_db_1, ..)] = drill_keys(&edge);
    rt.block_on(async {
        for (tenant, provider, key) in drill_keys(&edge) {
            let (s, v) = call(
                &edge.base,
                Method::POST,
                "/v1/integrations",
                &edge.token("owner", &tenant),
                Some(json!({"provider": provider, "key": key})),
            )
            .await;
            assert_eq!(s, 201, "{v}");
            assert_eq!(v["status"], "connected", "{v}");
        }
        every_key_resolves_and_tests(&edge).await;
    });

    // wrangler exports a config's local state from <its folder>/.wrangler/state.
    let dir = edge.dir().to_path_buf();
    std::fs::create_dir_all(dir.join(".wrangler")).expect(".wrangler");
    std::os::unix::fs::symlink(dir.join("state"), dir.join(".wrangler/state")).expect("link");
    let config = dir.join("wrangler.toml");
    let config = config.to_str().expect("utf-8 path");
    let backups = dir.join("backups");
    let out = script(
        "backup",
        &[
            "--local",
            "--config",
            config,
            "--output",
            backups.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "backup: {}", text(&out));
    assert!(
        !text(&out).contains(ANTHROPIC) && !text(&out).contains(STRIPE),
        "no key printed"
    );
    let backup = only_child(&backups);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup)
            .expect("meta")
            .permissions()
            .mode()
            & 0o077,
        0,
        "private"
    );
    let sql = std::fs::read_to_string(backup.join("d1.sql")).expect("d1.sql");
    let sql_1 = std::fs::read_to_string(backup.join("d1-DB_1.sql")).expect("d1-DB_1.sql");
    assert_eq!(
        std::fs::read_to_string(backup.join("databases.txt")).expect("databases.txt"),
        "DB\nDB_1\n",
        "the databases, in D1_SHARDS order"
    );
    assert!(
        sql.contains("integrations") && sql.contains(&in_db) && !sql.contains(&in_db_1),
        "the home database's rows are in d1.sql"
    );
    assert!(
        sql_1.contains(&in_db_1) && !sql_1.contains(&in_db),
        "the second database's rows are in d1-DB_1.sql"
    );
    for file in [&sql, &sql_1] {
        assert!(
            !file.contains(ANTHROPIC) && !file.contains(STRIPE),
            "keys are exported sealed, never in clear"
        );
    }
    let kv = std::fs::read_to_string(backup.join("kv/keys.txt")).expect("keys.txt");
    assert!(
        kv.lines().any(|k| k.starts_with("plugin:")) && kv.lines().any(|k| k.starts_with("logo:")),
        "{kv}"
    );
    assert!(
        text(&out).contains("keyring"),
        "reminds that the keyring is needed: {}",
        text(&out)
    );

    // Disaster: the state is gone. Restore into a new local D1/KV and serve from it with the
    // same keyring.
    let before = edge.stop_and_set_state_aside();
    let state = dir.join("state");
    let b = backup.to_str().expect("path");
    let out = script(
        "restore",
        &[
            b,
            "--local",
            "--config",
            config,
            "--persist-to",
            state.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "restore: {}", text(&out));
    let again = edge.config().clone();
    edge.restart(again);
    rt.block_on(every_key_resolves_and_tests(&edge));
    for (binding, tenant) in [("DB", &in_db), ("DB_1", &in_db_1)] {
        let rows = edge.query_in(
            binding,
            "SELECT tenant FROM integrations WHERE tenant LIKE 'drill-%'",
        );
        assert_eq!(
            rows,
            [json!({"tenant": tenant})],
            "{binding} holds its own tenant again, and only it"
        );
    }
    // The fleet counts kept by triggers (migration 0015) came back as they were, neither
    // doubled by the import's inserts nor lost.
    let counts = |sql: &str| {
        let mut rows: Vec<String> = edge.query(sql).iter().map(|r| r.to_string()).collect();
        rows.sort();
        rows
    };
    assert_eq!(
        counts("SELECT provider, status, n FROM fleet_counts WHERE n != 0"),
        counts(
            "SELECT provider, status, COUNT(*) AS n FROM integrations GROUP BY provider, status"
        ),
        "the restored fleet counts match the restored installs"
    );
    // (They hold because the export creates the triggers on `integrations` after its rows.)
    let triggers = sql.find("CREATE TRIGGER").unwrap_or(usize::MAX);
    let installs = sql
        .rfind("INSERT INTO \"integrations\"")
        .or_else(|| sql.rfind("INSERT INTO integrations "))
        .expect("the export holds installs");
    assert!(
        triggers != usize::MAX && triggers > installs,
        "the export creates its triggers after the installs"
    );

    // Never over data: the same target again is refused.
    let out = script(
        "restore",
        &[
            b,
            "--local",
            "--config",
            config,
            "--persist-to",
            state.to_str().expect("path"),
        ],
    );
    assert!(
        !out.status.success() && text(&out).contains("already has"),
        "{}",
        text(&out)
    );
    // A backup that changed since it was taken is refused before anything is written.
    std::fs::write(
        backup.join("d1-DB_1.sql"),
        sql_1.replace(in_db_1.as_str(), "drill-x"),
    )
    .expect("tamper");
    let fresh = dir.join("state.fresh");
    let out = script(
        "restore",
        &[
            b,
            "--local",
            "--config",
            config,
            "--persist-to",
            fresh.to_str().expect("path"),
        ],
    );
    assert!(
        !out.status.success() && text(&out).contains("MANIFEST"),
        "{}",
        text(&out)
    );
    assert!(!fresh.exists(), "nothing written");
    let _ = std::fs::remove_dir_all(before);
}

#[test]
fn a_backup_that_cannot_be_taken_leaves_nothing_behind() {
    // A config whose local database does not exist as a BYOK one: the export has no
    // integrations table, so the backup stops and removes its folder.
    let dir = std::env::temp_dir().join(format!("byok-backup-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("wrangler.toml"),
        "name = \"empty\"\nmain = \"x.js\"\ncompatibility_date = \"2026-11-01\"\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_name = \"byok\"\ndatabase_id = \"00000000-0000-0000-0000-000000000000\"\n[[kv_namespaces]]\nbinding = \"KV\"\nid = \"00000000000000000000000000000000\"\n",
    )
    .expect("config");
    let backups = dir.join("backups");
    let out = script(
        "backup",
        &[
            "--local",
            "--config",
            dir.join("wrangler.toml").to_str().expect("path"),
            "--output",
            backups.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("incomplete and was removed"),
        "{}",
        text(&out)
    );
    let left = std::fs::read_dir(&backups).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no partial backup left");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_backup_restores_only_under_the_databases_it_was_taken_over() {
    // Tenants are placed by the binding names in D1_SHARDS: a backup taken over DB and DB_1
    // must be served under exactly those, so any other target is refused before anything is
    // written, as is a backup missing one of its files and a config whose home is not DB.
    let dir = std::env::temp_dir().join(format!("byok-backup-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config_listing = |name: &str, shards: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!("name = \"two\"\nmain = \"x.js\"\ncompatibility_date = \"2026-11-01\"\n[vars]\nD1_SHARDS = \"{shards}\"\n"),
        )
        .expect("config");
        path
    };
    let backup_of = |name: &str, databases: Option<&str>, files: &[&str]| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.join("kv")).expect("dir");
        let mut manifest = String::new();
        for f in files {
            std::fs::write(path.join(f), "").expect("sql");
            manifest.push_str(&format!(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  ./{f}\n"
            ));
        }
        if let Some(d) = databases {
            std::fs::write(path.join("databases.txt"), d).expect("databases");
        }
        std::fs::write(path.join("MANIFEST"), manifest).expect("manifest");
        path
    };
    let one = config_listing("one.toml", "DB");
    let two = config_listing("two.toml", "DB,DB_1");
    let two_backup = backup_of("two", Some("DB\nDB_1\n"), &["d1.sql", "d1-DB_1.sql"]);
    let old_backup = backup_of("old", None, &["d1.sql"]);
    let missing = backup_of("missing", Some("DB\nDB_1\n"), &["d1.sql"]);
    let state = dir.join("state");
    for (backup, config, says) in [
        (
            &two_backup,
            &one,
            "the backup holds the databases DB DB_1 but the target's D1_SHARDS lists DB -",
        ),
        (
            &old_backup,
            &two,
            "the backup holds the databases DB but the target's D1_SHARDS lists DB DB_1 -",
        ),
        (
            &missing,
            &two,
            "the backup lists DB_1 but has no d1-DB_1.sql",
        ),
    ] {
        let out = script(
            "restore",
            &[
                backup.to_str().expect("path"),
                "--local",
                "--config",
                config.to_str().expect("path"),
                "--persist-to",
                state.to_str().expect("path"),
            ],
        );
        assert!(!out.status.success(), "{says}: {}", text(&out));
        assert!(
            text(&out).contains(says) && text(&out).contains("not restored"),
            "{says}: {}",
            text(&out)
        );
        assert!(!state.exists(), "{says}: nothing was written");
    }

    let backups = dir.join("backups");
    let out = script(
        "backup",
        &[
            "--local",
            "--config",
            config_listing("home.toml", "DB_1,DB")
                .to_str()
                .expect("path"),
            "--output",
            backups.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("D1_SHARDS must list DB first"),
        "{}",
        text(&out)
    );
    assert!(!backups.exists() || std::fs::read_dir(&backups).map(|d| d.count()).unwrap_or(0) == 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for wrangler's remote answers: records calls, keeps a "live" database and KV.
const STUB: &str = r#"#!/usr/bin/env bash
set -euo pipefail
state="$STUB_STATE"
printf '%s\n' "$*" >> "$state/calls.log"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1 $2" in
  "d1 export")
    [ "${STUB_EXPORT:-}" = fail ] || [ "${STUB_EXPORT:-}" = "fail-$3" ] && { echo '✘ [ERROR] A request to the Cloudflare API failed. [code: 7500]' >&2; exit 1; }
    printf 'CREATE TABLE integrations (tenant TEXT);\nINSERT INTO "integrations" VALUES(%s);\n' "'tenant-of-$3'" > "$(arg --output "$@")" ;;
  "kv key")
    case "$3" in
      list)
        [ "${STUB_KV_LIST:-}" = odd ] && { echo 'Listing keys...'; exit 0; }
        prefix="$(arg --prefix "$@")"
        if [ "${STUB_KV_LIST:-}" = partial ]; then
          if [ "$prefix" = "plugin:" ]; then echo '[{"name":"plugin:aaa"}]'; else echo '[]'; fi
          exit 0
        fi
        if [ "$prefix" = "plugin:" ]; then echo '[{"name":"plugin:aaa"},{"name":"plugin:bbb"}]'; else echo '[{"name":"logo:openai"}]'; fi ;;
      get)
        [ "${STUB_KV_GET:-}" = missing ] && [ "$4" = plugin:bbb ] && { echo 'Value not found'; exit 0; }
        printf 'bytes of %s' "$4" ;;
      put)
        [ "${STUB_KV_PUT:-}" = fail ] && { echo '✘ [ERROR] A request to the Cloudflare API failed. [code: 10001]' >&2; exit 1; }
        cp "$(arg --path "$@")" "$state/put-$(echo "$4" | tr ':' '_')" ;;
      *) exit 2 ;;
    esac ;;
  "d1 create")
    [ "${STUB_CREATE:-}" = fail ] || { [ "${STUB_CREATE:-}" = fail-second ] && [[ "$3" == *-db-1 ]]; } && { echo '✘ [ERROR] A database with that name already exists [code: 7502]' >&2; exit 1; }
    echo "created $3" ;;
  "d1 execute")
    [[ "$3" == DB* ]] && { echo "stand-in: the live database was written" >&2; exit 9; }
    case "${STUB_IMPORT:-}" in
      fail) echo '✘ [ERROR] near "INSERT": syntax error [code: 7500]' >&2; exit 1 ;;
      hang) exec sleep 30 ;;
    esac
    echo "imported into $3" ;;
  *) echo "stand-in wrangler: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

struct Remote {
    dir: PathBuf,
}

impl Remote {
    fn new(name: &str) -> Remote {
        let dir = std::env::temp_dir().join(format!("byok-remote-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).expect("dir");
        std::fs::create_dir_all(dir.join("state")).expect("state");
        let wrangler = dir.join("bin/wrangler");
        std::fs::write(&wrangler, STUB).expect("stub");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrangler, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Remote { dir }
    }

    fn run(&self, name: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(byok_e2e::root().join("script").join(name));
        cmd.args(args)
            .env("PATH", path)
            .env("STUB_STATE", self.dir.join("state"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("script runs")
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("state/calls.log")).unwrap_or_default()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_remote_backup_fails_closed_and_a_remote_restore_never_writes_the_live_database() {
    let r = Remote::new("remote");
    let out_dir = r.dir.join("backups");
    let out = out_dir.to_str().expect("path");
    // Failures leave nothing: the export fails; the KV listing is not JSON.
    for (var, value) in [
        ("STUB_EXPORT", "fail"),
        ("STUB_KV_LIST", "odd"),
        ("STUB_KV_GET", "missing"),
    ] {
        let o = r.run("backup", &["staging", "--output", out], &[(var, value)]);
        assert!(!o.status.success(), "{var}: {}", text(&o));
        assert_eq!(
            std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0),
            0,
            "{var}: nothing left"
        );
    }
    let o = r.run("backup", &["staging", "--output", out], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        r.calls()
            .contains("d1 export DB --remote --env staging -y --output"),
        "{}",
        r.calls()
    );
    let backup = only_child(&out_dir);
    let keys = std::fs::read_to_string(backup.join("kv/keys.txt")).expect("keys");
    assert_eq!(
        keys.lines().collect::<Vec<_>>(),
        ["plugin:aaa", "plugin:bbb", "logo:openai"]
    );

    // The live KV already holds plugin:aaa, plugin:bbb and logo:openai: restoring puts none
    // of them and imports into a new database only.
    let o = r.run("restore", &[backup.to_str().expect("path"), "staging"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let calls = r.calls();
    assert!(
        calls
            .lines()
            .any(|c| c.starts_with("d1 create byok-staging-restore-")),
        "{calls}"
    );
    assert!(
        calls
            .lines()
            .any(|c| c.starts_with("d1 execute byok-staging-restore-") && c.contains("--remote")),
        "{calls}"
    );
    assert!(
        !calls
            .lines()
            .any(|c| c.starts_with("d1 execute DB") || c.starts_with("kv key put")),
        "{calls}"
    );
    assert!(
        text(&o).contains("database_id"),
        "says how to switch: {}",
        text(&o)
    );

    // Every failure on the way stops the restore with an error, before any KV value is put,
    // and nothing ever runs against the live database: the create fails, the import fails or
    // hangs, the live KV listing is not JSON.
    // (A live KV missing values, so that a restore going on would put some.)
    for (var, value, says) in [
        ("STUB_CREATE", "fail", "could not create"),
        ("STUB_IMPORT", "fail", "the import of DB failed"),
        ("STUB_IMPORT", "hang", "the import of DB failed"),
        ("STUB_KV_LIST", "odd", "not the JSON list of keys"),
    ] {
        let before = r.calls().lines().count();
        let kv = if var == "STUB_KV_LIST" {
            value
        } else {
            "partial"
        };
        let o = r.run(
            "restore",
            &[backup.to_str().expect("path"), "staging"],
            &[
                (var, value),
                ("STUB_KV_LIST", kv),
                ("BYOK_WRANGLER_TIMEOUT", "2"),
            ],
        );
        assert!(!o.status.success(), "{var}={value}: {}", text(&o));
        assert!(text(&o).contains(says), "{var}={value}: {}", text(&o));
        let calls: Vec<String> = r.calls().lines().skip(before).map(str::to_owned).collect();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("kv key put") || c.starts_with("d1 execute DB")),
            "{var}={value}: {calls:#?}"
        );
    }
    // A put that fails stops the restore too, with the error.
    let o = r.run(
        "restore",
        &[backup.to_str().expect("path"), "staging"],
        &[("STUB_KV_LIST", "partial"), ("STUB_KV_PUT", "fail")],
    );
    assert!(
        !o.status.success() && text(&o).contains("kv key put"),
        "{}",
        text(&o)
    );

    // A live KV that lost some values gets exactly those back, with the backed-up bytes.
    let o = r.run(
        "restore",
        &[backup.to_str().expect("path"), "staging"],
        &[("STUB_KV_LIST", "partial")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let put =
        |name: &str| std::fs::read_to_string(r.dir.join("state").join(format!("put-{name}"))).ok();
    assert_eq!(put("plugin_aaa"), None, "present: kept");
    assert_eq!(put("plugin_bbb").as_deref(), Some("bytes of plugin:bbb"));
    assert_eq!(put("logo_openai").as_deref(), Some("bytes of logo:openai"));
}

#[test]
fn a_remote_backup_holds_every_database_and_a_restore_creates_one_new_database_for_each() {
    let r = Remote::new("two");
    // The staging config with tenants over DB and DB_1.
    let config = r.dir.join("wrangler.toml");
    let base = std::fs::read_to_string(byok_e2e::root().join("wrangler.toml")).expect("config");
    let from = "[env.staging.vars]\nDEV_MODE = \"false\"";
    assert!(base.contains(from));
    std::fs::write(
        &config,
        base.replacen(
            from,
            "[env.staging.vars]\nD1_SHARDS = \"DB,DB_1\"\nDEV_MODE = \"false\"",
            1,
        ) + "\n[[env.staging.d1_databases]]\nbinding = \"DB_1\"\ndatabase_name = \"byok-staging-1\"\ndatabase_id = \"set-by-script-deploy\"\nmigrations_dir = \"worker/migrations\"\n",
    )
    .expect("write");
    let cfg = config.to_str().expect("path");
    let out_dir = r.dir.join("backups");
    let out = out_dir.to_str().expect("path");

    // The second database's export fails: no backup is left that holds the first alone.
    let o = r.run(
        "backup",
        &["staging", "--output", out],
        &[("BYOK_WRANGLER_CONFIG", cfg), ("STUB_EXPORT", "fail-DB_1")],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("wrangler d1 export DB_1 failed"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing left"
    );

    let o = r.run(
        "backup",
        &["staging", "--output", out],
        &[("BYOK_WRANGLER_CONFIG", cfg)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 database(s)"), "{}", text(&o));
    let backup = only_child(&out_dir);
    for (file, tenant) in [
        ("d1.sql", "tenant-of-DB"),
        ("d1-DB_1.sql", "tenant-of-DB_1"),
    ] {
        let sql = std::fs::read_to_string(backup.join(file)).expect(file);
        assert!(sql.contains(tenant), "{file} is its database's export");
    }
    let manifest = std::fs::read_to_string(backup.join("MANIFEST")).expect("manifest");
    for file in ["./d1.sql", "./d1-DB_1.sql", "./databases.txt"] {
        assert!(manifest.contains(file), "the MANIFEST covers {file}");
    }

    // A restore creates a new database for each binding and imports each file into its own;
    // neither live database is written.
    let b = backup.to_str().expect("path");
    let before = r.calls().lines().count();
    let o = r.run("restore", &[b, "staging"], &[("BYOK_WRANGLER_CONFIG", cfg)]);
    assert!(o.status.success(), "{}", text(&o));
    let calls: Vec<String> = r.calls().lines().skip(before).map(str::to_owned).collect();
    let created: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("d1 create "))
        .collect();
    assert_eq!(created.len(), 2, "{calls:#?}");
    let home = created[0]
        .split_whitespace()
        .nth(2)
        .expect("name")
        .to_owned();
    assert!(home.starts_with("byok-staging-restore-"), "{home}");
    let second = format!("{home}-db-1");
    assert!(created[1].contains(&second), "{calls:#?}");
    for (name, file) in [(&home, "/d1.sql"), (&second, "/d1-DB_1.sql")] {
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with(&format!("d1 execute {name} --remote")) && c.contains(file)),
            "{name} gets {file}: {calls:#?}"
        );
    }
    assert!(
        !calls.iter().any(|c| c.starts_with("d1 execute DB")),
        "{calls:#?}"
    );
    assert!(
        text(&o).contains(&format!("DB -> {home}"))
            && text(&o).contains(&format!("DB_1 -> {second}")),
        "says which database serves which binding: {}",
        text(&o)
    );

    // The second create fails: nothing is imported anywhere, and the message names the first.
    let before = r.calls().lines().count();
    let o = r.run(
        "restore",
        &[b, "staging"],
        &[
            ("BYOK_WRANGLER_CONFIG", cfg),
            ("STUB_CREATE", "fail-second"),
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("could not create") && text(&o).contains("DB=byok-staging-restore-"),
        "{}",
        text(&o)
    );
    let calls: Vec<String> = r.calls().lines().skip(before).map(str::to_owned).collect();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("d1 execute") || c.starts_with("kv key put")),
        "{calls:#?}"
    );

    // The same backup into the one-database staging config: refused before any call.
    let before = r.calls().lines().count();
    let o = r.run("restore", &[b, "staging"], &[]);
    assert!(
        !o.status.success() && text(&o).contains("not restored"),
        "{}",
        text(&o)
    );
    assert_eq!(r.calls().lines().count(), before, "wrangler never ran");
}
