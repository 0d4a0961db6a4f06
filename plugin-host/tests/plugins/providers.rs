//! Every seeded plugin against its loopback fake, on Cranelift and on Pulley, with the same
//! outcome on both.

use byok_core::status::Verdict;
use byok_fake_providers::{register_service_account, FakeProviders};
use byok_plugin_host::{Backend, PluginOutcome, RunError};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::common::{component, engine, run, Case, BACKENDS};

struct Expect {
    secret: String,
    fields: Vec<(&'static str, String)>,
    verdict: Result<Verdict, RunError>,
    label: Option<&'static str>,
    message_has: &'static str,
}

fn expect(secret: impl Into<String>, verdict: Verdict) -> Expect {
    Expect {
        secret: secret.into(),
        fields: vec![],
        verdict: Ok(verdict),
        label: None,
        message_has: "",
    }
}

impl Expect {
    fn field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }
    fn label(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }
    fn says(mut self, text: &'static str) -> Self {
        self.message_has = text;
        self
    }
}

/// Runs every case on both backends; checks the verdict, label and message, and that both
/// backends agree on the whole outcome.
async fn check(plugin_name: &str, fakes: &FakeProviders, config: Value, cases: Vec<Expect>) {
    let bytes = component(plugin_name);
    let engines: Vec<_> = BACKENDS.iter().map(|b| engine(*b)).collect();
    let plugins: Vec<_> = engines
        .iter()
        .map(|e| e.load(&bytes).expect("loads"))
        .collect();
    for case in &cases {
        let fields: Vec<(String, String)> = case
            .fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let run_case = Case {
            secret: &case.secret,
            fields,
            config: config.clone(),
        };
        let mut outcomes: Vec<Result<PluginOutcome, RunError>> = Vec::new();
        for (engine, plugin) in engines.iter().zip(&plugins) {
            let report = run(engine, plugin, fakes, &run_case).await;
            let what = format!("{plugin_name} {:?} {:.40}", engine.backend(), case.secret);
            assert_eq!(
                report.result.clone().map(|o| o.verdict),
                case.verdict,
                "{what}: {report:?}"
            );
            if let Ok(o) = &report.result {
                assert_eq!(
                    o.account_label.as_deref(),
                    case.label.or(o.account_label.as_deref()),
                    "{what}"
                );
                assert!(
                    o.message.contains(case.message_has),
                    "{what}: {:?}",
                    o.message
                );
                assert!(
                    !o.message.contains(&case.secret),
                    "{what}: the message echoes the secret"
                );
            }
            outcomes.push(report.result);
        }
        assert_eq!(
            outcomes[0], outcomes[1],
            "{plugin_name}: Cranelift and Pulley disagree"
        );
    }
}

fn transient_and_broken(prefix: &str) -> Vec<Expect> {
    vec![
        expect(
            format!("{prefix}ratelimit-000000000000"),
            Verdict::RateLimited,
        ),
        expect(
            format!("{prefix}down-00000000000000000"),
            Verdict::ProviderUnavailable,
        ),
        expect(
            format!("{prefix}slow-00000000000000000"),
            Verdict::ProviderUnavailable,
        ),
        expect(
            format!("{prefix}garbage-00000000000000"),
            Verdict::UnexpectedResponse,
        ),
        expect(
            format!("{prefix}redirect-0000000000000"),
            Verdict::UnexpectedResponse,
        )
        .says("not followed"),
        Expect {
            verdict: Err(RunError::ResponseTooLarge { limit: 1 << 20 }),
            ..expect(
                format!("{prefix}huge-000000000000000000"),
                Verdict::Connected,
            )
        },
    ]
}

// The documented answers of each provider are in `fixtures.rs`; here, the answers that look the
// same everywhere (a slow, broken, redirecting or huge reply) against every plugin.

#[tokio::test]
async fn openai() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let cases = transient_and_broken("sk-proj-");
    check(
        "openai",
        &fakes,
        json!({"base_url": fakes.base_url("openai")}),
        cases,
    )
    .await;
}

#[tokio::test]
async fn stripe() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    check(
        "stripe",
        &fakes,
        json!({"base_url": fakes.base_url("stripe")}),
        transient_and_broken("sk_test_"),
    )
    .await;
}

#[tokio::test]
async fn twilio() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    let api_key = format!("SK{}", "fedcba9876543210".repeat(2));
    let mut cases = transient_and_broken("");
    cases.extend(
        transient_and_broken("")
            .into_iter()
            .map(|c| c.field("api_key_sid", api_key.clone())),
    );
    let cases = cases
        .into_iter()
        .map(|c| c.field("account_sid", sid.clone()))
        .collect();
    check(
        "twilio",
        &fakes,
        json!({"base_url": fakes.base_url("twilio")}),
        cases,
    )
    .await;
}

#[tokio::test]
async fn sendgrid() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    check(
        "sendgrid",
        &fakes,
        json!({"base_url": fakes.base_url("sendgrid")}),
        transient_and_broken("SG."),
    )
    .await;
}

#[tokio::test]
async fn meta_ads() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut cases = transient_and_broken("EAA");
    cases.extend(
        transient_and_broken("EAA")
            .into_iter()
            .map(|c| c.field("ad_account_id", "act_1234567890")),
    );
    let version = seed_config("meta-ads")["graph_version"].clone();
    check(
        "meta-ads",
        &fakes,
        json!({"base_url": fakes.base_url("meta"), "graph_version": version}),
        cases,
    )
    .await;
}

/// A seed's plugin config, as shipped.
fn seed_config(name: &str) -> Value {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let path = std::path::Path::new(&manifest).join(format!("../seeds/{name}/entry.json"));
    let entry: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("seed")).expect("json");
    entry["test_plugin"]["config"].clone()
}

#[tokio::test]
async fn http_check() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut cases = vec![
        expect("tok-valid-000000000", Verdict::Connected).label("Generic Co"),
        expect("tok-badkey-00000000", Verdict::InvalidCredential),
        expect("tok-noscope-0000000", Verdict::InsufficientPermission).says("scope missing"),
    ];
    cases.extend(transient_and_broken("tok-"));
    let config = json!({
        "url": format!("{}/v1/me", fakes.base_url("generic")),
        "auth": {"type": "bearer"},
        "label_pointer": "/account/name",
        "expect_json": true,
    });
    check("http-check", &fakes, config, cases).await;
}

#[tokio::test]
async fn google_calendar_signs_a_jwt_and_survives_broken_answers() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut rng = rand::thread_rng();
    let key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let account = |who: &str, pem: &str| {
        json!({"type": "service_account", "project_id": "demo", "private_key_id": "k1", "private_key": pem,
               "client_email": format!("{who}@demo.iam.gserviceaccount.com"), "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string()
    };
    for who in ["slow", "garbage", "redirect", "huge"] {
        register_service_account(&format!("{who}@demo.iam.gserviceaccount.com"), &public)
            .expect("register");
    }
    let cases = vec![
        expect(account("slow", &pem), Verdict::ProviderUnavailable).says("in time"),
        expect(account("garbage", &pem), Verdict::UnexpectedResponse),
        expect(account("redirect", &pem), Verdict::UnexpectedResponse).says("not followed"),
        Expect {
            verdict: Err(RunError::ResponseTooLarge { limit: 1 << 20 }),
            ..expect(account("huge", &pem), Verdict::Connected)
        },
    ];
    let base = fakes.base_url("google");
    let config = json!({"token_url": format!("{base}/token"), "api_base": base});
    check("google-calendar", &fakes, config, cases).await;
}

/// The seeds name the components built from this tree (reproducible builds).
#[test]
fn seeds_name_the_components_built_from_this_tree() {
    // Read at run time (see core/tests/seeds.rs): the clone under test, not the one that built.
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let seeds = std::path::Path::new(&manifest).join("../seeds");
    let mut checked = 0;
    for dir in std::fs::read_dir(&seeds).expect("seeds") {
        let dir = dir.expect("dir").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let entry: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("entry.json")).expect("entry"))
                .expect("json");
        let digest = entry
            .pointer("/test_plugin/digest")
            .and_then(Value::as_str)
            .expect("every seed has a plugin");
        // A seed with a plugin crate of its own name runs it; the others are declarative.
        let plugin = if std::path::Path::new(&manifest)
            .join("../plugins")
            .join(&name)
            .is_dir()
        {
            name.clone()
        } else {
            "http-check".to_owned()
        };
        let built = byok_plugin_host::load::digest(&component(&plugin));
        let hex: String = built.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            digest, hex,
            "seeds/{name}: stale digest; run script/build-plugins --update-seeds"
        );
        engine(Backend::Pulley)
            .load(&component(&plugin))
            .expect("loads");
        checked += 1;
    }
    assert!(checked >= 27, "{checked} seeds");
}
