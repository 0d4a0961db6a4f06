//! The plugin author's kit as a new author uses it: `byok plugin new` → `byok plugin test` →
//! `byok provider check`, and each mistake an author made in the first trial refused with words
//! that say what to fix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use byok_fake_providers::FakeProviders;
use serde_json::{json, Value};

fn byok() -> Command {
    Command::new(env!("CARGO_BIN_EXE_byok"))
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn built(name: &str) -> PathBuf {
    let path = target().join("plugins").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{}: run script/build-plugins first",
        path.display()
    );
    path
}

fn root() -> PathBuf {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(manifest).join("..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch folder holding `seeds/` for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byok-kit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("seeds")).expect("dir");
    dir
}

fn edit(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
}

/// `byok plugin new acme` in `dir`, with http-check's digest in the entry.
fn scaffold(dir: &Path) -> PathBuf {
    let out = byok()
        .args(["plugin", "new", "acme", "--seeds"])
        .arg(dir.join("seeds"))
        .env("CARGO_TARGET_DIR", target())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    let entry = dir.join("seeds/acme");
    for f in ["entry.json", "fixtures.json", "logo.svg"] {
        assert!(entry.join(f).exists(), "{f}: {}", text(&out));
    }
    assert!(
        text(&out).contains("byok plugin test"),
        "says what to do next"
    );
    entry
}

fn test(entry: &Path) -> Output {
    byok()
        .args(["plugin", "test"])
        .arg(entry)
        .arg("--plugins-dir")
        .arg(target().join("plugins"))
        .output()
        .expect("runs")
}

#[test]
fn a_scaffolded_provider_passes_its_suite_as_written() {
    let dir = scratch("new");
    let entry = scaffold(&dir);
    let out = test(&entry);
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    for row in [
        "a wrong key is refused",
        "a 429 is rate-limited",
        "a timeout is provider-unavailable",
        "an HTML login page is never connected",
    ] {
        assert!(table.contains(row), "{row}: {table}");
    }
    assert!(table.contains("passed on both backends"), "{table}");
    let check = byok()
        .args(["provider", "check"])
        .arg(&entry)
        .arg("--plugin")
        .arg(built("http-check"))
        .output()
        .expect("runs");
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn a_401_mapped_to_connected_is_refused_naming_the_case() {
    let dir = scratch("401");
    let entry = scaffold(&dir);
    edit(&entry.join("entry.json"), |e| {
        e["test_plugin"]["config"]["statuses"] = json!({"connected": [401]});
    });
    let out = test(&entry);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("must be invalid-credential, got connected (\"The key works (HTTP 401).\")"),
        "{t}"
    );
    assert!(t.contains("a 401 is never connected"), "{t}");
}

#[test]
fn a_misspelled_verdict_is_named() {
    let dir = scratch("typo");
    let entry = scaffold(&dir);
    edit(&entry.join("entry.json"), |e| {
        e["test_plugin"]["config"]["statuses"] = json!({"invalid-credentials": [404]});
    });
    let out = test(&entry);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("'invalid-credentials' is not a verdict"),
        "{}",
        text(&out)
    );
}

#[test]
fn upload_checks_are_offline_and_say_what_to_fix() {
    let dir = scratch("check");
    let entry = scaffold(&dir);
    let check = |plugin: &Path| {
        byok()
            .args(["provider", "check"])
            .arg(&entry)
            .arg("--plugin")
            .arg(plugin)
            .output()
            .expect("runs")
    };
    // A test URL outside the entry's own egress rules.
    edit(&entry.join("entry.json"), |e| {
        e["test_plugin"]["config"]["url"] = json!("https://api.elsewhere.example/v1/me");
    });
    let out = check(&built("http-check"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("test_plugin.config.url: https://api.elsewhere.example/v1/me is not allowed by the entry's egress rules"),
        "{}",
        text(&out)
    );
    // Another plugin file than the one the entry names.
    edit(&entry.join("entry.json"), |e| {
        e["test_plugin"]["config"]["url"] = json!("https://api.acme.example/v1/me");
    });
    let out = check(&built("sendgrid"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("names plugin")
            && text(&out).contains("put its digest in test_plugin.digest"),
        "{}",
        text(&out)
    );
    // No fixture showing a fake key refused.
    edit(&entry.join("fixtures.json"), |f| {
        let cases = f["cases"].as_array_mut().expect("cases");
        cases.retain(|c| c["expect"]["verdict"] != "invalid-credential");
    });
    let out = check(&built("http-check"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no case shows a fake key refused"),
        "{}",
        text(&out)
    );
}

#[test]
fn every_seed_passes_its_suite() {
    let seeds: Vec<PathBuf> = std::fs::read_dir(root().join("seeds"))
        .expect("seeds")
        .map(|d| d.expect("dir").path())
        .collect();
    let out = byok()
        .args(["plugin", "test", "--quiet"])
        .args(&seeds)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(seeds.len() >= 27);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_with_the_verdict_and_suggests_allow() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let origin = format!("http://{}", fakes.addr());
    let run = |secret: &'static str, allow: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_byok"));
        cmd.args(["plugin", "run"])
            .arg(built("http-check"))
            .arg("--entry")
            .arg(root().join("seeds/mistral"))
            .args(["--secret-env", "BYOK_TEST_SECRET", "--config"])
            .arg(format!("url={}/v1/models", fakes.base_url("mistral")))
            .env("BYOK_TEST_SECRET", secret);
        if allow {
            cmd.args(["--allow", &origin]);
        }
        cmd.output()
    };
    let ok = run("FAKEvalid0000000000000000000000", true)
        .await
        .expect("runs");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let bad = run("FAKEbadkey000000000000000000000", true)
        .await
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let limited = run("FAKEratelimit000000000000000000", true)
        .await
        .expect("runs");
    assert_eq!(limited.status.code(), Some(4), "{}", text(&limited));
    let blocked = run("FAKEvalid0000000000000000000000", false)
        .await
        .expect("runs");
    assert_eq!(blocked.status.code(), Some(1));
    assert!(
        text(&blocked).contains(&format!("add --allow {origin}"))
            || text(&blocked).contains(&format!(
                "add --allow http://127.0.0.1:{}",
                fakes.addr().port()
            )),
        "{}",
        text(&blocked)
    );
}
