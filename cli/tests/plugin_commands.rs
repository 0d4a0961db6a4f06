//! `byok plugin check` and `byok plugin run`, as a plugin author uses them.

use std::path::PathBuf;
use std::process::Command;

use byok_fake_providers::FakeProviders;

fn byok() -> Command {
    Command::new(env!("CARGO_BIN_EXE_byok"))
}

fn built(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("plugins").join(format!("{name}.wasm"));
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

#[test]
fn check_accepts_a_plugin_and_explains_a_refusal() {
    let ok = byok()
        .args(["plugin", "check"])
        .arg(built("openai"))
        .output()
        .expect("runs");
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("contract v2") && out.contains("imports none"),
        "OpenAI's plugin says more than its verdict: {out}"
    );
    let v1 = byok()
        .args(["plugin", "check"])
        .arg(built("sendgrid"))
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&v1.stdout).contains("contract v1"));

    let dir = std::env::temp_dir().join(format!("byok-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let module = dir.join("module.wasm");
    std::fs::write(&module, wat::parse_str("(module)").expect("wat")).expect("write");
    let refused = byok()
        .args(["plugin", "check"])
        .arg(&module)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("a core WebAssembly module, not a component"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_each_request_without_the_secret_and_the_verdict() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let secret = "sk_test_valid0000secretpart0000";
    let origin = format!("http://{}", fakes.addr());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_byok"))
        .args(["plugin", "run"])
        .arg(built("stripe"))
        .arg("--entry")
        .arg(root().join("seeds/stripe"))
        .args(["--secret-env", "BYOK_TEST_SECRET", "--config"])
        .arg(format!("base_url={}", fakes.base_url("stripe")))
        .arg("--allow")
        .arg(&origin)
        .env("BYOK_TEST_SECRET", secret)
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("GET {origin}/stripe/v1/account -> 200")),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: connected"), "{stdout}");
    assert!(stdout.contains("account: Acme Ltd (test mode)"), "{stdout}");
    assert!(
        !stdout.contains("secretpart") && !stderr.contains("secretpart"),
        "the secret leaked"
    );
}
