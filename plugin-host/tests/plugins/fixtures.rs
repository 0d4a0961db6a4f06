//! Every documented answer in `tests/fake-providers/fixtures/` that ends a connection test,
//! run through the real plugin on Cranelift and on Pulley: the verdict, the message and the
//! warnings must be what the fixture says, the same on both backends, and never echo the key.

use byok_core::status::Verdict;
use byok_fake_providers::fixtures::{self, Case, Fixture};
use byok_fake_providers::{register_service_account, FakeProviders};
use byok_plugin_host::{PluginOutcome, RunError};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::common::{component, engine, run, BACKENDS};

/// The secret a test pastes to reach `case`.
fn secret(fixture: &Fixture, case: &Case, google: &GoogleKeys) -> String {
    let template = case.credential.as_deref().unwrap_or(&fixture.credential);
    let kw = case.keyword();
    if fixture.provider == "google-calendar" {
        return google.service_account(kw);
    }
    template.replace("{kw}", kw)
}

/// Service-account keys for the Google fixture: every keyword's account is known to the fake
/// except `unknown`; `wrongkey` is signed with a key the fake does not know.
struct GoogleKeys {
    pem: String,
    other_pem: String,
    public: String,
}

impl GoogleKeys {
    fn new() -> Self {
        let mut rng = rand::thread_rng();
        let key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
        let other = RsaPrivateKey::new(&mut rng, 2048).expect("key");
        Self {
            public: key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("pem"),
            pem: key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
            other_pem: other.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
        }
    }

    fn email(kw: &str) -> String {
        format!("{kw}@demo.iam.gserviceaccount.com")
    }

    fn register(&self, kw: &str) {
        if kw != "unknown" {
            register_service_account(&Self::email(kw), &self.public).expect("register");
        }
    }

    fn service_account(&self, kw: &str) -> String {
        let pem = if kw == "wrongkey" {
            &self.other_pem
        } else {
            &self.pem
        };
        json!({"type": "service_account", "project_id": "demo", "private_key_id": "k1",
               "private_key": pem, "client_email": Self::email(kw),
               "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string()
    }
}

/// What is wrong with an outcome for `case`, if anything.
fn check_outcome(
    case: &Case,
    secret: &str,
    result: &Result<PluginOutcome, RunError>,
) -> Result<(), String> {
    let expect = case.expect.as_ref().ok_or("no expected verdict")?;
    let want: Verdict = serde_json::from_value(Value::String(expect.verdict.clone()))
        .map_err(|e| format!("verdict {}: {e}", expect.verdict))?;
    let o = result
        .as_ref()
        .map_err(|e| format!("the run failed: {e}"))?;
    let mut wrong = Vec::new();
    if o.verdict != want {
        wrong.push(format!("verdict {:?}, want {want:?}", o.verdict));
    }
    if let Some(text) = &expect.says {
        if !o.message.contains(text.as_str()) {
            wrong.push(format!("the message does not say {text:?}"));
        }
    }
    if let Some(text) = &expect.warns {
        if !o.warnings.iter().any(|w| w.contains(text.as_str())) {
            wrong.push(format!("no warning says {text:?}"));
        }
    }
    if let Some(label) = &expect.label {
        if o.account_label.as_deref() != Some(label.as_str()) {
            wrong.push(format!("label {:?}, want {label:?}", o.account_label));
        }
    }
    for text in &expect.never_says {
        if o.message.contains(text.as_str()) {
            wrong.push(format!("the message says {text:?}"));
        }
    }
    let everything = format!("{} {:?} {:?}", o.message, o.warnings, o.account_label);
    if everything.contains(secret) {
        wrong.push("the outcome echoes the secret".into());
    }
    // The host replaces credential fields a plugin repeats; a plugin should not try.
    if everything.contains("[redacted]") {
        wrong.push("the plugin repeats a credential field".into());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({:?}: {:?})",
            wrong.join("; "),
            o.verdict,
            o.message
        ))
    }
}

async fn check_fixture(provider: &str) -> usize {
    let fixture = fixtures::of(provider).expect("fixture");
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let fake = format!("http://{}", fakes.addr());
    let config = fixtures::fill(&fixture.config, &[("fake", &fake)]);
    let bytes = component(provider);
    let engines: Vec<_> = BACKENDS.iter().map(|b| engine(*b)).collect();
    let plugins: Vec<_> = engines
        .iter()
        .map(|e| e.load(&bytes).expect("loads"))
        .collect();
    let google = GoogleKeys::new();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in fixture.cases.iter().filter(|c| c.expect.is_some()) {
        if provider == "google-calendar" {
            google.register(case.keyword());
        }
        let secret = secret(fixture, case, &google);
        let fields: Vec<(String, String)> = fixture
            .fields
            .iter()
            .chain(&case.fields)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut case_config = config.clone();
        if let (Some(Value::Object(extra)), Some(into)) =
            (&case.config, case_config.as_object_mut())
        {
            for (k, v) in extra {
                into.insert(k.clone(), fixtures::fill(v, &[("fake", &fake)]));
            }
        }
        let run_case = crate::common::Case {
            secret: &secret,
            fields,
            config: case_config,
        };
        let mut results = Vec::new();
        for (engine, plugin) in engines.iter().zip(&plugins) {
            let report = run(engine, plugin, &fakes, &run_case).await;
            if let Err(why) = check_outcome(case, &secret, &report.result) {
                failures.push(format!("{} on {:?}: {why}", case.id, engine.backend()));
            }
            results.push(report.result);
        }
        if results[0] != results[1] {
            failures.push(format!("{}: the backends disagree", case.id));
        }
        ran += 1;
    }
    assert!(ran > 0, "{provider}: no case to run");
    assert!(
        failures.is_empty(),
        "{provider}: {} of {ran} documented cases answered wrongly:\n{}",
        failures.len() / 2,
        failures.join("\n")
    );
    ran
}

#[tokio::test]
async fn anthropic_answers_as_documented() {
    check_fixture("anthropic").await;
}

#[tokio::test]
async fn openai_answers_as_documented() {
    check_fixture("openai").await;
}

#[tokio::test]
async fn stripe_answers_as_documented() {
    check_fixture("stripe").await;
}

#[tokio::test]
async fn twilio_answers_as_documented() {
    check_fixture("twilio").await;
}

#[tokio::test]
async fn sendgrid_answers_as_documented() {
    check_fixture("sendgrid").await;
}

#[tokio::test]
async fn google_calendar_answers_as_documented() {
    check_fixture("google-calendar").await;
}

#[tokio::test]
async fn meta_ads_answers_as_documented() {
    check_fixture("meta-ads").await;
}

#[test]
fn every_fixture_names_its_sources() {
    let cases = fixtures::check_all().expect("fixtures hang together");
    assert!(cases > 0);
}
