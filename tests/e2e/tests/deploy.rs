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
    if [ -f "$state/d1" ]; then printf '[{"name":"byok-staging","uuid":"%s"}]\n' "$(cat "$state/d1")"; else echo '[]'; fi ;;
  "d1 create byok-staging")
    echo "11111111-2222-4333-8444-555555555555" > "$state/d1"; echo "created" ;;
  "kv namespace list")
    if [ -f "$state/kv" ]; then printf '[{"title":"byok-staging-kv","id":"%s"}]\n' "$(cat "$state/kv")"; else echo '[]'; fi ;;
  "kv namespace create")
    [ "$4" = byok-staging-kv ] || exit 3
    echo "0123456789abcdef0123456789abcdef" > "$state/kv"; echo "created" ;;
  "secret list "*)
    printf '['; sep=''
    for f in "$state"/secrets/*; do [ -e "$f" ] || continue; printf '%s{"name":"%s","type":"secret_text"}' "$sep" "$(basename "$f")"; sep=','; done
    echo ']' ;;
  "secret put "*)
    cat > "$state/secrets/$3"; echo "Success! Uploaded secret $3" ;;
  "queues info byok-staging-jobs")
    [ -f "$state/queue" ] || { echo "no such queue" >&2; exit 1; }
    echo "byok-staging-jobs" ;;
  "queues create byok-staging-jobs")
    touch "$state/queue"; echo "created" ;;
  "d1 migrations apply")
    [ "$4" = DB ] && [[ " $* " == *" --remote "* ]] || exit 4
    echo "migrations applied" ;;
  "deploy --env staging")
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
        for (k, v) in secrets {
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
    let migrate = position(&calls, "d1 migrations apply DB");
    let deploy = position(&calls, "deploy --env staging");
    assert!(
        create_d1 < first_put
            && create_kv < first_put
            && create_queue < deploy
            && first_put < migrate
            && migrate < deploy,
        "order: create, secrets, migrate, deploy: {calls:#?}"
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
    assert_eq!(list.len(), 7, "the seven seeds: {providers}");
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
        &["--no-seed"],
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

#[test]
fn a_config_with_dev_values_is_refused_before_anything_runs() {
    for (what, from, to) in [
        ("dev mode",
            "[env.staging.vars]\nDEV_MODE = \"false\"",
            "[env.staging.vars]\nDEV_MODE = \"true\"",
        ),
        ("dev issuer", "AUTH_ISSUER = \"https://app.soconnective.com\"\nAUTH_AUDIENCE = \"byok-staging\"", "AUTH_ISSUER = \"byok-dev\"\nAUTH_AUDIENCE = \"byok-staging\""),
        ("local ids", "database_name = \"byok-staging\"\ndatabase_id = \"set-by-script-deploy\"", "database_name = \"byok-staging\"\ndatabase_id = \"00000000-0000-0000-0000-000000000000\""),
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
