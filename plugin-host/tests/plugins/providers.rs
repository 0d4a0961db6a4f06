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

#[tokio::test]
async fn openai() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut cases = vec![
        expect("sk-test-proj-valid-0000000000000000", Verdict::Connected),
        expect(
            "sk-test-proj-badkey-000000000000000",
            Verdict::InvalidCredential,
        )
        .says("rejected"),
        expect(
            "sk-test-proj-noscope-00000000000000",
            Verdict::InsufficientPermission,
        )
        .says("Missing scopes"),
        expect(
            "sk-test-proj-quota-0000000000000000",
            Verdict::InsufficientPermission,
        )
        .says("quota"),
    ];
    cases.extend(transient_and_broken("sk-proj-"));
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
    let mut cases = vec![
        expect("sk_test_valid000000000000000000", Verdict::Connected).label("Acme Ltd (test mode)"),
        expect("rk_live_valid000000000000000000", Verdict::Connected).label("Acme Ltd (live mode)"),
        expect(
            "sk_test_badkey00000000000000000",
            Verdict::InvalidCredential,
        ),
        expect(
            "rk_live_noscope0000000000000000",
            Verdict::InsufficientPermission,
        )
        .says("rak_accounts_kyc_basic_read"),
    ];
    cases.extend(transient_and_broken("sk_test_"));
    check(
        "stripe",
        &fakes,
        json!({"base_url": fakes.base_url("stripe")}),
        cases,
    )
    .await;
}

#[tokio::test]
async fn twilio() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    let api_key = format!("SK{}", "fedcba9876543210".repeat(2));
    let mut cases = vec![
        expect("valid0000000000000000000000000000", Verdict::Connected).label("Acme SMS"),
        expect("valid-api-key-secret-000000000000", Verdict::Connected)
            .field("api_key_sid", api_key),
        expect(
            "suspended000000000000000000000000",
            Verdict::InsufficientPermission,
        )
        .says("suspended"),
        expect(
            "badkey00000000000000000000000000",
            Verdict::InvalidCredential,
        )
        .says("20003"),
    ];
    cases.extend(transient_and_broken(""));
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
    let mut cases = vec![
        expect("SG.valid-000000000000.0000000000000000", Verdict::Connected),
        expect(
            "SG.noscope-0000000000.0000000000000000",
            Verdict::InsufficientPermission,
        )
        .says("mail.send"),
        expect(
            "SG.badkey-00000000000.0000000000000000",
            Verdict::InvalidCredential,
        )
        .says("authorization required"),
    ];
    cases.extend(transient_and_broken("SG."));
    check(
        "sendgrid",
        &fakes,
        json!({"base_url": fakes.base_url("sendgrid")}),
        cases,
    )
    .await;
}

#[tokio::test]
async fn meta_ads() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut cases = vec![
        expect("EAAvalid000000000000000000", Verdict::Connected).says("works"),
        expect("EAAvalid000000000000000000", Verdict::Connected)
            .field("ad_account_id", "act_1234567890")
            .label("Acme Ads via SoConnective System User"),
        expect(
            "EAAnoscope0000000000000000",
            Verdict::InsufficientPermission,
        )
        .field("ad_account_id", "1234567890"),
        expect("EAAbadkey00000000000000000", Verdict::InvalidCredential)
            .says("Cannot parse access token"),
        expect("EAAsuspended00000000000000", Verdict::InvalidCredential).says("expired"),
    ];
    cases.extend(transient_and_broken("EAA"));
    check(
        "meta-ads",
        &fakes,
        json!({"base_url": fakes.base_url("meta"), "graph_version": "v24.0"}),
        cases,
    )
    .await;
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
async fn google_calendar_signs_a_jwt_and_reads_the_calendar_list() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let mut rng = rand::thread_rng();
    let key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
    let other = RsaPrivateKey::new(&mut rng, 2048).expect("key");
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let other_pem = other.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let account = |who: &str, pem: &str| {
        json!({"type": "service_account", "project_id": "demo", "private_key_id": "k1", "private_key": pem,
               "client_email": format!("{who}@demo.iam.gserviceaccount.com"), "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string()
    };
    for who in [
        "valid",
        "empty",
        "noscope",
        "ratelimit",
        "down",
        "wrongkey",
        "slow",
        "garbage",
        "redirect",
        "huge",
    ] {
        register_service_account(&format!("{who}@demo.iam.gserviceaccount.com"), &public)
            .expect("register");
    }
    let cases = vec![
        expect(account("valid", &pem), Verdict::Connected)
            .label("valid@demo.iam.gserviceaccount.com")
            .says("1 calendar is shared"),
        expect(account("empty", &pem), Verdict::Connected).says("no calendar is shared"),
        expect(account("noscope", &pem), Verdict::InsufficientPermission)
            .says("Calendar API is not enabled"),
        expect(account("ratelimit", &pem), Verdict::RateLimited),
        expect(account("down", &pem), Verdict::ProviderUnavailable),
        expect(account("wrongkey", &other_pem), Verdict::InvalidCredential)
            .says("Invalid JWT Signature"),
        expect(account("unknown", &pem), Verdict::InvalidCredential).says("not found"),
        expect(
            "{\"type\": \"authorized_user\"}",
            Verdict::InvalidCredential,
        )
        .says("not a service-account key"),
        expect("not json", Verdict::InvalidCredential).says("not valid JSON"),
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
        let built = byok_plugin_host::load::digest(&component(&name));
        let hex: String = built.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            digest, hex,
            "seeds/{name}: stale digest; run script/build-plugins --update-seeds"
        );
        engine(Backend::Pulley)
            .load(&component(&name))
            .expect("loads");
        checked += 1;
    }
    assert_eq!(checked, 7);
}
