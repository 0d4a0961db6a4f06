//! `script/deploy` driven with a stand-in `wrangler` first on PATH that records every call (and
//! what arrived on stdin), against a real local edge standing in for the deployed Worker so
//! that seeding goes through the real admin API. Checks the order (create, secrets, migrate,
//! deploy, seed), idempotence, the generated-secrets path, and that no secret ever appears in
//! an argument or in the script's output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use byok_e2e::EdgeConfig;

const STUB: &str = r#"#!/usr/bin/env bash
# A stand-in for wrangler: records its arguments, keeps a little state, answers like wrangler.
set -euo pipefail
state="$STUB_STATE"
mkdir -p "$state/secrets"
printf '%s\n' "$*" >> "$state/calls.log"
case "$1 ${2:-} ${3:-}" in
  "d1 list --json")
    # Every database created so far (state/d1/NAME holds its id), as wrangler lists them.
    printf '['; sep=''
    for f in "$state"/d1/*; do [ -e "$f" ] || continue; printf '%s{"name":"%s","uuid":"%s"}' "$sep" "$(basename "$f")" "$(cat "$f")"; sep=','; done
    echo ']' ;;
  "d1 create "*)
    [[ "$3" == byok-staging* ]] || exit 3
    mkdir -p "$state/d1"
    n="$(ls "$state/d1" | wc -l)"
    printf '11111111-2222-4333-8444-%012d\n' "$((555555555555 + n))" > "$state/d1/$3"; echo "created" ;;
  "kv namespace list")
    if [ -f "$state/kv" ]; then printf '[{"title":"byok-staging-kv","id":"%s"}]\n' "$(cat "$state/kv")"; else echo '[]'; fi ;;
  "kv namespace create")
    [ "$4" = byok-staging-kv ] || exit 3
    echo "0123456789abcdef0123456789abcdef" > "$state/kv"; echo "created" ;;
  "secret list "*)
    # STUB_LIST: how this call fails, as wrangler and the API have been seen to.
    case "${STUB_LIST:-}" in
      server-error) echo '✘ [ERROR] A request to the Cloudflare API (/accounts/abc/workers/scripts/byok-staging/secrets) failed.' >&2
                    echo '  Internal Server Error [code: 10013]' >&2; exit 1 ;;
      rate-limited) echo '✘ [ERROR] A request to the Cloudflare API failed: 429 Too Many Requests [code: 971]' >&2; exit 1 ;;
      permission)   echo '✘ [ERROR] A request to the Cloudflare API (/accounts/abc/workers/scripts/byok-staging/secrets) failed.' >&2
                    echo '  Authentication error [code: 10000]' >&2; exit 1 ;;
      banner)       printf ' ⛅️ wrangler 4.164.0\n───────────────────\n' ;;
      non-json)     echo 'Secret Name: AUTH_SECRET'; exit 0 ;;
      empty)        exit 0 ;;
      hang)         exec sleep 30 ;;
    esac
    if [ ! -f "$state/worker" ]; then
      printf '✘ [ERROR] Worker "byok-staging" (env: staging) not found.\n\nIf this is a new Worker, run `wrangler deploy` first to create it.\n' >&2
      exit 1
    fi
    printf '['; sep=''
    for f in "$state"/secrets/*; do [ -e "$f" ] || continue; printf '%s{"name":"%s","type":"secret_text"}' "$sep" "$(basename "$f")"; sep=','; done
    echo ']' ;;
  "secret put "*)
    if [ "${STUB_PUT_FAIL:-}" = "$3" ]; then cat > /dev/null; echo '✘ [ERROR] A request to the Cloudflare API failed. [code: 10013]' >&2; exit 1; fi
    touch "$state/worker"; cat > "$state/secrets/$3"; echo "Success! Uploaded secret $3" ;;
  "d1 execute "*)
    [[ " $* " == *" --remote "* && " $* " == *" --json "* && "$*" == *"COUNT(*) AS n FROM "*"integrations"* ]] || exit 5
    # STUB_D1 and STUB_ROWS apply to the binding STUB_D1_IN names (default: every one).
    if [ -n "${STUB_D1_IN:-}" ] && [ "$3" != "$STUB_D1_IN" ]; then
      printf '[{"results":[{"n":0}],"success":true,"meta":{"served_by":"stub"}}]\n'; exit 0
    fi
    case "${STUB_D1:-}" in
      fail) echo '✘ [ERROR] A request to the Cloudflare API failed. [code: 7500]' >&2; exit 1 ;;
      hang) exec sleep 30 ;;
      odd)  echo 'Executing on remote database DB'; exit 0 ;;
    esac
    printf '[{"results":[{"n":%s}],"success":true,"meta":{"served_by":"stub"}}]\n' "${STUB_ROWS:-0}" ;;
  "queues info byok-staging-jobs")
    [ -f "$state/queue" ] || { echo "no such queue" >&2; exit 1; }
    echo "byok-staging-jobs" ;;
  "queues create byok-staging-jobs")
    touch "$state/queue"; echo "created" ;;
  "d1 migrations apply")
    [[ "$4" =~ ^DB(_[0-9]+)?$ ]] && [[ " $* " == *" --remote "* ]] || exit 4
    if [ "${STUB_MIGRATE_FAIL:-}" = "$4" ]; then echo '✘ [ERROR] Migration 0017_query_plans.sql failed [code: 7500]' >&2; exit 1; fi
    echo "migrations applied" ;;
  "deploy --dry-run --outdir")
    # A bundle of STUB_UPLOAD_BYTES in the dry run's folder ($4).
    truncate -s "${STUB_UPLOAD_BYTES:-1000}" "$4/index.js"; echo "Total Upload: (stand-in)" ;;
  "deploy --env staging")
    touch "$state/worker"
    printf 'Uploaded byok-staging\nDeployed byok-staging triggers\n  %s\n' "$STUB_URL" ;;
  *) echo "stand-in wrangler: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

struct Stub {
    dir: PathBuf,
    state: PathBuf,
    config: PathBuf,
}

impl Stub {
    fn new(name: &str) -> Stub {
        let dir = std::env::temp_dir().join(format!("byok-deploy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).expect("dir");
        let wrangler = dir.join("bin/wrangler");
        std::fs::write(&wrangler, STUB).expect("stub");
        std::fs::set_permissions(&wrangler, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let config = dir.join("wrangler.toml");
        std::fs::copy(byok_e2e::root().join("wrangler.toml"), &config).expect("config copy");
        Stub {
            state: dir.join("state"),
            config,
            dir,
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn secret(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.state.join("secrets").join(name)).ok()
    }

    /// Runs script/deploy with this stub first on PATH and only the given secrets in its
    /// environment.
    fn deploy(&self, args: &[&str], url: &str, secrets: &[(&str, &str)]) -> Output {
        self.deploy_with(args, url, secrets, &[])
    }

    /// As `deploy`, with extra variables for the stub (STUB_LIST, STUB_D1, STUB_ROWS) or the
    /// script.
    fn deploy_with(
        &self,
        args: &[&str],
        url: &str,
        secrets: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(byok_e2e::root().join("script/deploy"));
        cmd.arg("staging")
            .args(args)
            .env("PATH", path)
            .env("STUB_STATE", &self.state)
            .env("STUB_URL", url)
            .env("BYOK_WRANGLER_CONFIG", &self.config)
            .env("BYOK_SECRETS_DIR", &self.dir)
            .env("BYOK_DEPLOY_SKIP_BUILD", "1");
        for name in [
            "AUTH_SECRET",
            "SERVICE_AUTH_SECRET",
            "BYOK_KEYRING",
            "WEBHOOK_SECRET",
            "BYOK_TOKEN",
            "BYOK_URL",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in secrets.iter().chain(vars) {
            cmd.env(k, v);
        }
        cmd.output().expect("script/deploy runs")
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No secret appears in any wrangler argument or in what the script printed.
fn assert_nowhere(stub: &Stub, out: &Output, secrets: &[String]) {
    let calls = stub.calls().join("\n");
    let printed = text(out);
    for s in secrets {
        assert!(s.len() >= 32, "a real secret");
        assert!(
            !calls.contains(s.as_str()),
            "a secret reached wrangler's arguments"
        );
        assert!(!printed.contains(s.as_str()), "a secret was printed");
    }
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call '{prefix}' in {calls:#?}"))
}

#[test]
fn deploy_creates_puts_secrets_migrates_deploys_then_seeds() {
    // The "deployed" Worker: a local edge with the staging issuer and audience and dev mode off.
    let edge = EdgeConfig {
        issuer: "https://app.soconnective.com".into(),
        audience: "byok-staging".into(),
        dev_mode: false,
        ..EdgeConfig::default()
    }
    .start();
    let cfg = edge.config().clone();
    let secrets = [
        ("AUTH_SECRET", cfg.auth_secret.as_str()),
        ("SERVICE_AUTH_SECRET", cfg.service_secret.as_str()),
        ("BYOK_KEYRING", cfg.keyring.as_str()),
    ];
    let stub = Stub::new("first");
    let out = stub.deploy(&[], &edge.base, &secrets);
    assert!(out.status.success(), "deploy failed:\n{}", text(&out));

    let calls = stub.calls();
    let create_d1 = position(&calls, "d1 create byok-staging");
    let create_kv = position(&calls, "kv namespace create byok-staging-kv");
    let create_queue = position(&calls, "queues create byok-staging-jobs");
    let first_put = position(&calls, "secret put ");
    let list = position(&calls, "secret list ");
    let migrate = position(&calls, "d1 migrations apply DB");
    let deploy = position(&calls, "deploy --env staging");
    assert!(
        create_d1 < migrate
            && create_kv < migrate
            && create_queue < deploy
            && migrate < list
            && list < first_put
            && first_put < deploy,
        "order: create, migrate, list secrets, put secrets, deploy: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("d1 execute")),
        "the keyring came from the environment: no first-deploy data check"
    );
    assert!(calls[migrate].contains("--remote") && calls[migrate].contains("--env staging"));
    for (name, value) in secrets {
        assert_eq!(
            stub.secret(name).as_deref(),
            Some(value),
            "{name} arrived on stdin"
        );
        assert!(calls
            .iter()
            .any(|c| c == &format!("secret put {name} --env staging")));
    }
    let values: Vec<String> = secrets.iter().map(|(_, v)| v.to_string()).collect();
    assert_nowhere(&stub, &out, &values);

    // The ids are recorded where wrangler reads them.
    let config = std::fs::read_to_string(&stub.config).expect("config");
    assert!(
        config.contains(r#"database_id = "11111111-2222-4333-8444-555555555555""#),
        "{config}"
    );
    assert!(
        config.contains(r#"id = "0123456789abcdef0123456789abcdef""#),
        "{config}"
    );

    // Seeded after the deploy, through the admin API: the catalog with logos and plugins.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let providers: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v1/providers", edge.base))
            .bearer_auth(edge.token("member", "deployed"))
            .send()
            .await
            .expect("catalog")
            .json()
            .await
            .expect("json")
    });
    let list = providers["providers"].as_array().expect("providers");
    let seeded = std::fs::read_dir(byok_e2e::root().join("seeds"))
        .expect("seeds")
        .count();
    assert_eq!(
        list.len(),
        seeded,
        "every seed, each through the conformance suite"
    );
    for p in list {
        assert!(
            p["logo"].as_str().is_some_and(|l| l.contains("/logo")),
            "logo: {p}"
        );
        assert!(p["test_plugin"]["digest"].is_string(), "plugin: {p}");
    }

    // The deployed config has no dev login, even for a request from loopback.
    let login = rt.block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{}/dev/login?tenant=x&role=platform-admin",
                edge.base
            ))
            .send()
            .await
            .expect("dev login")
    });
    assert_eq!(login.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(
        login.headers().get("set-cookie").is_none(),
        "no session minted"
    );

    // In production a session is read only from the __Host- cookie: a plain `byok_session`
    // could have been planted by a sibling subdomain (review L2).
    let owner = edge.token("owner", "deployed");
    let with_cookie = |cookie: String| {
        rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}/v1/integrations", edge.base))
                .header("cookie", cookie)
                .send()
                .await
                .expect("integrations")
                .status()
        })
    };
    assert_eq!(
        with_cookie(format!("byok_session={owner}")),
        reqwest::StatusCode::UNAUTHORIZED,
        "the dev cookie name is not read in production"
    );
    assert_eq!(
        with_cookie(format!("theme=dark; __Host-byok_session={owner}")),
        reqwest::StatusCode::OK
    );

    // A second run changes nothing that exists: no creation, the same ids, seeding again.
    let before = stub.calls().len();
    let again = stub.deploy(&[], &edge.base, &secrets);
    assert!(again.status.success(), "second deploy:\n{}", text(&again));
    let second: Vec<String> = stub.calls()[before..].to_vec();
    assert!(
        !second.iter().any(|c| c.contains(" create ")),
        "nothing created twice: {second:#?}"
    );
    assert_nowhere(&stub, &again, &values);
}

#[test]
fn deploy_generates_missing_secrets_once_and_keeps_existing_ones() {
    let stub = Stub::new("generate");
    let out = stub.deploy(
        &["--no-seed", "--first-deploy"],
        "https://byok-staging.example.workers.dev",
        &[],
    );
    assert!(out.status.success(), "deploy failed:\n{}", text(&out));
    let names = [
        "AUTH_SECRET",
        "SERVICE_AUTH_SECRET",
        "BYOK_KEYRING",
        "WEBHOOK_SECRET",
    ];
    let values: Vec<String> = names
        .iter()
        .map(|n| stub.secret(n).unwrap_or_else(|| panic!("{n} was put")))
        .collect();
    assert!(values[0].len() >= 32 && values[1].len() >= 32 && values[0] != values[1]);
    assert!(values[2].contains("\"primary\""), "a keyring document");
    assert!(
        byok_core::webhook::WebhookSecret::parse(&values[3]).is_ok(),
        "a whsec_ webhook secret"
    );
    assert_nowhere(&stub, &out, &values);

    // Shown once to the operator: in a 0600 file (no terminal here), named in the output.
    let file: PathBuf = std::fs::read_dir(&stub.dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("byok-secrets-staging-"))
        })
        .expect("the secrets file");
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the operator can read it");
    let written = std::fs::read_to_string(&file).expect("read");
    for (name, value) in names.iter().zip(&values) {
        assert!(
            written.contains(&format!("{name}='{value}'")),
            "{name} in the file"
        );
    }
    assert!(
        text(&out).contains(&file.display().to_string()),
        "the output names the file"
    );
    std::fs::remove_file(&file).expect("remove");

    // Run again with nothing in the environment: the secrets on Cloudflare are kept.
    let before = stub.calls().len();
    let again = stub.deploy(
        &["--no-seed"],
        "https://byok-staging.example.workers.dev",
        &[],
    );
    assert!(again.status.success(), "second deploy:\n{}", text(&again));
    let second: Vec<String> = stub.calls()[before..].to_vec();
    assert!(
        !second.iter().any(|c| c.starts_with("secret put")),
        "kept: {second:#?}"
    );
    for (name, value) in names.iter().zip(&values) {
        assert_eq!(
            stub.secret(name).as_deref(),
            Some(value.as_str()),
            "{name} unchanged"
        );
    }
    assert!(!has_secrets_file(&stub.dir), "nothing new to show");
}

fn has_secrets_file(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("byok-secrets-"))
        })
        .unwrap_or(false)
}

/// DEV_MODE left on in a deployment (by hand, past script/deploy's checks): its real issuer
/// keeps the dev login shut, even for a request whose URL names loopback, as a Worker calling
/// over a service binding can write (review L9).
#[test]
fn dev_mode_left_on_with_a_real_issuer_mints_no_session_for_a_loopback_url() {
    let edge = EdgeConfig {
        issuer: "https://app.soconnective.com".into(),
        audience: "byok-staging".into(),
        dev_mode: true,
        ..EdgeConfig::default()
    }
    .start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let login = rt.block_on(async {
            reqwest::Client::new()
                .get(format!(
                    "{}/dev/login?tenant=x&role=platform-admin",
                    edge.base
                ))
                .header("host", host)
                .send()
                .await
                .expect("dev login")
        });
        assert_eq!(login.status(), reqwest::StatusCode::NOT_FOUND, "{host}");
        assert!(login.headers().get("set-cookie").is_none(), "{host}");
    }
}

#[test]
fn a_config_with_dev_values_is_refused_before_anything_runs() {
    for (what, from, to) in [
        ("dev mode",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            "[env.staging.vars]\nDEV_MODE = \"true\"",
        ),
        ("dev issuer", "AUTH_ISSUER = \"https://app.soconnective.com\"\nAUTH_AUDIENCE = \"byok-staging\"", "AUTH_ISSUER = \"byok-dev\"\nAUTH_AUDIENCE = \"byok-staging\""),
        ("a rate-limit namespace shared with production",
            "namespace_id = \"2001\"",
            "namespace_id = \"1001\"",
        ),
        ("local ids", "database_name = \"byok-staging\"\ndatabase_id = \"set-by-script-deploy\"", "database_name = \"byok-staging\"\ndatabase_id = \"00000000-0000-0000-0000-000000000000\""),
        // Several databases: the home one first, each listed one bound, none named twice.
        ("a home database other than DB",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            &format!("[env.staging.vars]\nD1_SHARDS = \"DB_1,DB\"\nDEV_MODE = \"false\"\n{}", extra_database("DB_1", "byok-staging-1")),
        ),
        ("a listed database without a binding",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            "[env.staging.vars]\nD1_SHARDS = \"DB,DB_1\"\nDEV_MODE = \"false\"",
        ),
        ("a move to a database that is not bound",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            "[env.staging.vars]\nD1_SHARDS_NEXT = \"DB,DB_9\"\nDEV_MODE = \"false\"",
        ),
        ("a move that moves no tenant",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            "[env.staging.vars]\nD1_SHARDS_NEXT = \"DB\"\nDEV_MODE = \"false\"",
        ),
        ("two bindings naming one database",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            &format!("[env.staging.vars]\nD1_SHARDS = \"DB,DB_1\"\nDEV_MODE = \"false\"\n{}", extra_database("DB_1", "byok-staging")),
        ),
    ] {
        let stub = Stub::new("devvalues");
        let config = std::fs::read_to_string(&stub.config).expect("config");
        assert!(config.contains(from), "{what}: the staging section as expected");
        std::fs::write(&stub.config, config.replacen(from, to, 1)).expect("write");
        let out = stub.deploy(&["--dry-run"], "https://unused.example", &[]);
        assert!(!out.status.success(), "{what}: refused");
        assert!(
            text(&out).contains("not fit to deploy"),
            "{what}: says why: {}",
            text(&out)
        );
        assert!(stub.calls().is_empty(), "{what}: wrangler never ran");
    }
}

const URL: &str = "https://byok-staging.example.workers.dev";

/// A `[[env.staging.d1_databases]]` block for one more database (TOML allows it anywhere
/// after the environment's vars).
fn extra_database(binding: &str, name: &str) -> String {
    format!(
        "\n[[env.staging.d1_databases]]\nbinding = \"{binding}\"\ndatabase_name = \"{name}\"\ndatabase_id = \"set-by-script-deploy\"\nmigrations_dir = \"worker/migrations\"\n"
    )
}

/// A TOML file as JSON, read by Python's tomllib (what wrangler_config.py reads it with).
fn toml_as_json(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The stub's staging config with tenants over DB and DB_1, and DB_2 being prepared (bound,
/// not yet listed in D1_SHARDS).
fn over_three_databases(stub: &Stub) {
    let config = std::fs::read_to_string(&stub.config).expect("config");
    let from = "[env.staging.vars]\nDEV_MODE = \"false\"";
    assert!(config.contains(from));
    let config = config.replacen(
        from,
        "[env.staging.vars]\nD1_SHARDS = \"DB,DB_1\"\nDEV_MODE = \"false\"",
        1,
    ) + &extra_database("DB_1", "byok-staging-1")
        + &extra_database("DB_2", "byok-staging-2");
    std::fs::write(&stub.config, config).expect("write");
}

#[test]
fn deploy_creates_records_and_migrates_every_database_before_anything_is_put() {
    let stub = Stub::new("databases");
    over_three_databases(&stub);
    let out = stub.deploy(&["--no-seed", "--first-deploy"], URL, &[]);
    assert!(out.status.success(), "deploy failed:\n{}", text(&out));
    let calls = stub.calls();
    let list = position(&calls, "secret list ");
    for (binding, name) in [
        ("DB", "byok-staging"),
        ("DB_1", "byok-staging-1"),
        ("DB_2", "byok-staging-2"),
    ] {
        let create = position(&calls, &format!("d1 create {name}"));
        let migrate = position(&calls, &format!("d1 migrations apply {binding} "));
        assert!(
            create < migrate && migrate < list,
            "{binding}: created, then migrated before the secrets are read: {calls:#?}"
        );
        assert!(calls[migrate].contains("--remote") && calls[migrate].contains("--env staging"));
    }
    // The first deploy's keyring check counts the keys in each database tenants live in.
    for binding in ["DB", "DB_1", "DB_2"] {
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with(&format!("d1 execute {binding} "))),
            "{binding} counted: {calls:#?}"
        );
    }
    // Each binding's own id is recorded under it.
    let config = toml_as_json(&stub.config);
    let ids: Vec<(String, String)> = config["env"]["staging"]["d1_databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| {
            (
                d["binding"].as_str().expect("binding").to_owned(),
                d["database_id"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    let created = |name: &str| {
        std::fs::read_to_string(stub.state.join("d1").join(name))
            .expect("created")
            .trim()
            .to_owned()
    };
    assert_eq!(
        ids,
        [
            ("DB".to_owned(), created("byok-staging")),
            ("DB_1".to_owned(), created("byok-staging-1")),
            ("DB_2".to_owned(), created("byok-staging-2")),
        ]
    );
    let distinct: std::collections::HashSet<_> = ids.iter().map(|(_, id)| id).collect();
    assert_eq!(distinct.len(), 3, "three databases, three ids");

    // Again: nothing created, every database migrated again (additive, idempotent).
    let before = stub.calls().len();
    let again = stub.deploy(&["--no-seed"], URL, &[]);
    assert!(again.status.success(), "{}", text(&again));
    let second = stub.calls()[before..].to_vec();
    assert!(
        !second.iter().any(|c| c.contains(" create ")),
        "{second:#?}"
    );
    assert_eq!(
        second
            .iter()
            .filter(|c| c.starts_with("d1 migrations apply "))
            .count(),
        3
    );
}

#[test]
fn a_database_that_fails_to_migrate_or_holds_keys_stops_the_deploy_with_nothing_put() {
    let (stub, live) = deployed("second-database");
    over_three_databases(&stub);
    // One database's migrations fail: the Worker must not run over a schema behind its code.
    let before = stub.calls().len();
    let out = stub.deploy_with(&["--no-seed"], URL, &[], &[("STUB_MIGRATE_FAIL", "DB_1")]);
    assert!(!out.status.success(), "refused: {}", text(&out));
    assert!(
        text(&out).contains("the migrations of DB_1 failed") && text(&out).contains("0017"),
        "says which and why: {}",
        text(&out)
    );
    assert_untouched(&stub, before, &live, "a failed migration");
    assert!(
        !stub.calls()[before..]
            .iter()
            .any(|c| c.starts_with("d1 migrations apply DB_2")),
        "stops at the first failure"
    );

    // DB holds keys and DB_1, listed, holds none: a database listed without its tenants'
    // rows. Refused, unless the operator says it is meant.
    let before = stub.calls().len();
    let vars = [("STUB_ROWS", "4"), ("STUB_D1_IN", "DB")];
    let out = stub.deploy_with(&["--no-seed"], URL, &[], &vars);
    assert!(!out.status.success(), "refused: {}", text(&out));
    assert!(
        text(&out).contains("D1_SHARDS lists DB_1, which holds no keys while DB does"),
        "{}",
        text(&out)
    );
    assert_untouched(&stub, before, &live, "an empty database listed");
    let out = stub.deploy_with(&["--no-seed", "--allow-empty-database"], URL, &[], &vars);
    assert!(out.status.success(), "{}", text(&out));
    // Both hold keys (or both none): deployed.
    let out = stub.deploy_with(&["--no-seed"], URL, &[], &[("STUB_ROWS", "4")]);
    assert!(out.status.success(), "{}", text(&out));

    // --first-deploy without a keyring, while the second database holds keys: refused.
    std::fs::remove_file(stub.state.join("secrets/BYOK_KEYRING")).expect("remove");
    let live: Vec<(String, String)> = live
        .into_iter()
        .filter(|(n, _)| n != "BYOK_KEYRING")
        .collect();
    for (vars, says) in [
        (
            &[("STUB_ROWS", "2"), ("STUB_D1_IN", "DB_1")][..],
            "database DB_1 holds 2 integration(s)",
        ),
        (
            &[("STUB_D1", "fail"), ("STUB_D1_IN", "DB_2")][..],
            "cannot tell whether staging holds keys (DB_2)",
        ),
    ] {
        let before = stub.calls().len();
        let out = stub.deploy_with(
            &["--no-seed", "--first-deploy", "--allow-empty-database"],
            URL,
            &[],
            vars,
        );
        assert!(!out.status.success(), "{says}: refused: {}", text(&out));
        assert!(text(&out).contains(says), "{says}: {}", text(&out));
        assert_untouched(&stub, before, &live, says);
        assert!(stub.secret("BYOK_KEYRING").is_none(), "{says}");
    }
}

/// A Worker already deployed with its four secrets, as after a first deploy.
fn deployed(name: &str) -> (Stub, Vec<(String, String)>) {
    let stub = Stub::new(name);
    let out = stub.deploy(&["--no-seed", "--first-deploy"], URL, &[]);
    assert!(out.status.success(), "first deploy:\n{}", text(&out));
    for entry in std::fs::read_dir(&stub.dir).expect("dir").flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("byok-secrets-")
        {
            std::fs::remove_file(entry.path()).expect("remove");
        }
    }
    let live = [
        "AUTH_SECRET",
        "SERVICE_AUTH_SECRET",
        "BYOK_KEYRING",
        "WEBHOOK_SECRET",
    ]
    .iter()
    .map(|n| (n.to_string(), stub.secret(n).expect("put")))
    .collect();
    (stub, live)
}

/// Nothing was put since call `before`, nothing was deployed, and every live secret is as it was.
fn assert_untouched(stub: &Stub, before: usize, live: &[(String, String)], what: &str) {
    let after: Vec<String> = stub.calls()[before..].to_vec();
    assert!(
        !after
            .iter()
            .any(|c| c.starts_with("secret put") || c.starts_with("deploy")),
        "{what}: nothing put or deployed: {after:#?}"
    );
    for (name, value) in live {
        assert_eq!(
            stub.secret(name).as_deref(),
            Some(value.as_str()),
            "{what}: {name} unchanged"
        );
    }
    assert!(!has_secrets_file(&stub.dir), "{what}: nothing generated");
}

#[test]
fn a_secret_list_that_cannot_be_trusted_stops_the_deploy_with_nothing_put() {
    let (stub, live) = deployed("untrusted");
    for (mode, says) in [
        ("server-error", "failed (exit 1)"),
        ("rate-limited", "429 Too Many Requests"),
        ("permission", "Authentication error"),
        ("banner", "not a JSON list of secrets"),
        ("non-json", "not a JSON list of secrets"),
        ("empty", "not a JSON list of secrets"),
        ("hang", "timed out"),
    ] {
        // The worst case: nothing in the environment and --first-deploy, so a list read as
        // "no secrets" would generate and put all four.
        let before = stub.calls().len();
        let out = stub.deploy_with(
            &["--no-seed", "--first-deploy"],
            URL,
            &[],
            &[("STUB_LIST", mode), ("BYOK_WRANGLER_TIMEOUT", "2")],
        );
        let printed = text(&out);
        assert!(
            !out.status.success(),
            "{mode}: the deploy stops:\n{printed}"
        );
        assert!(
            printed.contains("nothing was put") && printed.contains(says),
            "{mode}: says why: {printed}"
        );
        assert_untouched(&stub, before, &live, mode);
        let values: Vec<String> = live.iter().map(|(_, v)| v.clone()).collect();
        assert_nowhere(&stub, &out, &values);
    }

    // The same Worker, answering properly again: deployed, every secret kept.
    let before = stub.calls().len();
    let out = stub.deploy(&["--no-seed"], URL, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let after: Vec<String> = stub.calls()[before..].to_vec();
    assert!(after.iter().any(|c| c.starts_with("deploy")), "{after:#?}");
    assert!(
        !after.iter().any(|c| c.starts_with("secret put")),
        "{after:#?}"
    );
    for (name, value) in &live {
        assert_eq!(stub.secret(name).as_deref(), Some(value.as_str()), "{name}");
    }
}

#[test]
fn a_keyring_is_generated_only_on_an_explicit_first_deploy_of_an_empty_database() {
    // A Worker without a keyring: not generated unless asked for.
    let (stub, live) = deployed("keyring");
    std::fs::remove_file(stub.state.join("secrets/BYOK_KEYRING")).expect("remove");
    let live: Vec<(String, String)> = live
        .into_iter()
        .filter(|(n, _)| n != "BYOK_KEYRING")
        .collect();
    let before = stub.calls().len();
    let out = stub.deploy(&["--no-seed"], URL, &[]);
    assert!(!out.status.success(), "refused: {}", text(&out));
    assert!(
        text(&out).contains("--first-deploy") && text(&out).contains("Nothing was put"),
        "{}",
        text(&out)
    );
    assert_untouched(&stub, before, &live, "no flag");
    assert!(stub.secret("BYOK_KEYRING").is_none());

    // --first-deploy over a database that holds keys, or whose rows cannot be counted: refused.
    for (vars, says) in [
        (&[("STUB_ROWS", "3")][..], "holds 3 integration(s)"),
        (
            &[("STUB_D1", "fail")][..],
            "cannot tell whether staging holds keys",
        ),
        (&[("STUB_D1", "odd")][..], "printed something unexpected"),
        (
            &[("STUB_D1", "hang"), ("BYOK_WRANGLER_TIMEOUT", "2")][..],
            "cannot tell",
        ),
    ] {
        let before = stub.calls().len();
        let out = stub.deploy_with(&["--no-seed", "--first-deploy"], URL, &[], vars);
        assert!(!out.status.success(), "{says}: refused: {}", text(&out));
        assert!(text(&out).contains(says), "{says}: {}", text(&out));
        assert_untouched(&stub, before, &live, says);
        assert!(stub.secret("BYOK_KEYRING").is_none(), "{says}");
    }

    // The keyring the operator kept offline, from the environment: put, no data check.
    let keyring = r#"{"primary":"k202611","keys":{"k202611":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}"#;
    let before = stub.calls().len();
    let out = stub.deploy(&["--no-seed"], URL, &[("BYOK_KEYRING", keyring)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stub.secret("BYOK_KEYRING").as_deref(), Some(keyring));
    assert!(!stub.calls()[before..]
        .iter()
        .any(|c| c.starts_with("d1 execute")));
}

#[test]
fn the_generated_secrets_file_is_new_private_and_never_written_through_a_planted_link() {
    // Someone who can write to the directory plants links at every name a clock-based scheme
    // would use in the next minute, pointing at a file of theirs.
    let stub = Stub::new("planted");
    let victim = stub.dir.join("victim");
    std::fs::write(&victim, "").expect("victim");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for s in 0..60 {
        let stamp = Command::new("date")
            .args(["-u", "-d", &format!("@{}", now + s), "+%Y%m%d%H%M%S"])
            .env("TZ", "UTC")
            .output()
            .expect("date");
        let stamp = String::from_utf8_lossy(&stamp.stdout).trim().to_string();
        let _ = std::os::unix::fs::symlink(
            &victim,
            stub.dir.join(format!("byok-secrets-staging-{stamp}.env")),
        );
    }
    let out = stub.deploy_with(&["--no-seed", "--first-deploy"], URL, &[], &[("TZ", "UTC")]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "",
        "no secret written through a link"
    );
    let file = std::fs::read_dir(&stub.dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("byok-secrets-"))
                && !std::fs::symlink_metadata(p)
                    .expect("meta")
                    .file_type()
                    .is_symlink()
        })
        .expect("the secrets file");
    let meta = std::fs::symlink_metadata(&file).expect("meta");
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains("BYOK_KEYRING="));
}

/// A put that fails halfway through a first deploy: what was generated was handed to the
/// operator before anything was put, so no secret (above all no keyring) ends up on Cloudflare
/// without a copy; the deploy stops before deploying, says what was put, and a run with those
/// values in the environment completes with them.
#[test]
fn a_put_that_fails_halfway_leaves_no_secret_without_a_copy() {
    let stub = Stub::new("halfway");
    let out = stub.deploy_with(
        &["--no-seed", "--first-deploy"],
        URL,
        &[],
        &[("STUB_PUT_FAIL", "BYOK_KEYRING")],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("putting BYOK_KEYRING failed")
            && printed.contains("AUTH_SECRET SERVICE_AUTH_SECRET"),
        "{printed}"
    );
    assert!(
        !stub.calls().iter().any(|c| c.starts_with("deploy")),
        "not deployed"
    );
    let file = std::fs::read_dir(&stub.dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("byok-secrets-"))
        })
        .expect("the generated values were written before the puts");
    let written = std::fs::read_to_string(&file).expect("read");
    for name in ["AUTH_SECRET", "SERVICE_AUTH_SECRET"] {
        let put = stub.secret(name).expect("put before the failure");
        assert!(
            written.contains(&format!("{name}='{put}'")),
            "{name}: the copy matches what was put"
        );
    }
    assert!(stub.secret("BYOK_KEYRING").is_none());
    // The copy, as `set -a; . FILE` would read it.
    let copy: Vec<(String, String)> = written
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once("='")?;
            Some((name.to_owned(), value.strip_suffix('\'')?.to_owned()))
        })
        .collect();
    assert_eq!(
        copy.len(),
        4,
        "every generated value: {:?}",
        copy.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    std::fs::remove_file(&file).expect("remove");

    // Run again with the copy in the environment: what is put is what the operator holds.
    let env: Vec<(&str, &str)> = copy.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let out = stub.deploy(&["--no-seed"], URL, &env);
    assert!(out.status.success(), "{}", text(&out));
    for (name, value) in &copy {
        assert_eq!(stub.secret(name).as_deref(), Some(value.as_str()), "{name}");
    }
    assert!(!has_secrets_file(&stub.dir), "nothing generated anew");
}

#[test]
fn the_dry_run_refuses_an_upload_over_cloudflares_limit_and_only_that() {
    // Cloudflare's one size limit since 2026-09-04: 64 MiB uncompressed, on every plan (the
    // 3 MB and 10 MB compressed limits were removed). The stand-in's dry run writes a bundle
    // of STUB_UPLOAD_BYTES (sparse zeros: tiny gzipped, as no real bundle is).
    let limit: u64 = 64 * 1024 * 1024;
    for (bytes, passes) in [(limit, true), (limit + 1, false)] {
        let stub = Stub::new("size");
        let out = stub.deploy_with(
            &["--dry-run"],
            "https://unused.example",
            &[],
            &[("STUB_UPLOAD_BYTES", &bytes.to_string())],
        );
        let printed = text(&out);
        assert_eq!(out.status.success(), passes, "{bytes} bytes:\n{printed}");
        assert!(
            printed.contains(&format!("upload: {bytes} bytes (limit {limit})")),
            "{bytes} bytes: the size is printed: {printed}"
        );
        if !passes {
            assert!(
                printed.contains("over Cloudflare's 67108864-byte limit"),
                "{bytes} bytes: says why: {printed}"
            );
        }
        let calls = stub.calls();
        assert!(
            calls.len() == 1 && calls[0].starts_with("deploy --dry-run --outdir "),
            "{bytes} bytes: nothing but the dry run: {calls:?}"
        );
    }
}
