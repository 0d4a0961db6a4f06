//! Hostile components are stopped with a named error, and the host keeps serving.

use byok_core::status::Verdict;
use byok_fake_providers::FakeProviders;
use byok_plugin_host::{LoadedPlugin, PluginEngine, RunError};
use serde_json::json;

use crate::common::{component, engine, run, test_limits, Case, BACKENDS};

async fn hostile(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    fakes: &FakeProviders,
    mode: &str,
) -> Result<Verdict, RunError> {
    let config = json!({"mode": mode, "url": format!("{}/v1/models", fakes.base_url("anthropic"))});
    let case = Case {
        secret: "sk-hostile-secret-value",
        fields: vec![],
        config,
    };
    run(engine, plugin, fakes, &case)
        .await
        .result
        .map(|o| o.verdict)
}

/// Whether an error is the one a misbehaviour should produce.
type Expect = fn(&RunError) -> bool;

#[tokio::test]
async fn every_misbehaviour_ends_in_a_named_error_and_the_host_keeps_serving() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let limits = test_limits();
    for backend in BACKENDS {
        let engine = engine(backend);
        let plugin = engine.load(&component("hostile")).expect("loads");
        let cases: [(&str, Expect); 9] = [
            ("loop", |e| matches!(e, RunError::OutOfFuel { .. })),
            ("memory", |e| matches!(e, RunError::MemoryLimit { .. })),
            ("huge-output", |e| {
                matches!(e, RunError::StepTooLarge { .. })
            }),
            ("many-headers", |e| {
                matches!(e, RunError::StepTooLarge { .. })
            }),
            ("many-warnings", |e| {
                matches!(e, RunError::StepTooLarge { .. })
            }),
            ("trap", |e| matches!(e, RunError::Trap(_))),
            ("steps", |e| matches!(e, RunError::TooManySteps { .. })),
            (
                "off-allowlist",
                // A host of the plugin's choosing is never named: it could carry the key.
                |e| matches!(e, RunError::EgressDenied { origin } if origin == "a host not on the list (https, port 443)"),
            ),
            ("big-request", |e| {
                matches!(e, RunError::RequestTooLarge { .. })
            }),
        ];
        for (mode, expected) in cases {
            let got = hostile(&engine, &plugin, &fakes, mode).await;
            match &got {
                Err(e) => assert!(expected(e), "{backend:?} {mode}: unexpected {e:?}"),
                Ok(v) => panic!("{backend:?} {mode}: should have been stopped, got {v:?}"),
            }
            // The same engine and plugin still serve a well-behaved run afterwards.
            let after = hostile(&engine, &plugin, &fakes, "behave").await;
            assert_eq!(after, Ok(Verdict::Connected), "{backend:?} after {mode}");
        }
        let bad_header = hostile(&engine, &plugin, &fakes, "bad-header").await;
        assert!(
            matches!(bad_header, Err(RunError::BadRequest(_))),
            "{bad_header:?}"
        );
        assert_eq!(limits.steps, 8);
    }
}

#[tokio::test]
async fn a_plugin_cannot_leak_the_secret_through_its_outcome() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let engine = engine(byok_plugin_host::Backend::Cranelift);
    let plugin = engine.load(&component("hostile")).expect("loads");
    let config = json!({"mode": "echo-secret"});
    let case = Case {
        secret: "sk-hostile-secret-value",
        fields: vec![],
        config,
    };
    let outcome = run(&engine, &plugin, &fakes, &case)
        .await
        .result
        .expect("outcome");
    assert_eq!(outcome.message, "your key is [redacted]");
    assert_eq!(outcome.account_label.as_deref(), Some("acct [redacted]"));
}

#[tokio::test]
async fn no_form_of_the_secret_leaves_the_host_in_outcomes_or_errors() {
    use base64::Engine as _;
    let fakes = FakeProviders::start(0).await.expect("fakes");
    // Letters and digits only, so that the origin built from it is the key itself.
    let secret = "skHostileSecretValue0123";
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let leaks = |text: &str| {
        let lower = text.to_ascii_lowercase();
        let reversed: String = secret
            .chars()
            .rev()
            .collect::<String>()
            .to_ascii_lowercase();
        lower.contains(&secret.to_ascii_lowercase())
            || lower.contains(&reversed)
            || text.contains(&b64[..b64.len() - 4])
            || lower.contains(&hex)
    };
    for backend in BACKENDS {
        let engine = engine(backend);
        let plugin = engine.load(&component("hostile")).expect("loads");
        for mode in [
            "secret-transformed",
            "secret-in-origin",
            "secret-in-origin-reversed",
            "secret-in-header-name",
            "secret-in-panic",
        ] {
            let case = Case {
                secret,
                fields: vec![],
                config: json!({"mode": mode, "url": format!("{}/v1/models", fakes.base_url("anthropic"))}),
            };
            let report = run(&engine, &plugin, &fakes, &case).await;
            let shown = match &report.result {
                Ok(o) => format!("{} {:?} {:?}", o.message, o.account_label, o.warnings),
                Err(e) => e.to_string(),
            };
            let exchanges = format!("{:?}", report.exchanges);
            assert!(!leaks(&shown), "{backend:?} {mode}: {shown}");
            assert!(!leaks(&exchanges), "{backend:?} {mode}: {exchanges}");
        }
    }
}

#[tokio::test]
async fn egress_rules_narrow_a_host_to_paths_and_methods() {
    use byok_core::catalog::{EgressRule, HttpMethod, Scheme};
    use byok_plugin_host::egress_reqwest::ReqwestEgress;
    use byok_plugin_host::RunInput;
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let engine = engine(byok_plugin_host::Backend::Cranelift);
    let plugin = engine.load(&component("hostile")).expect("loads");
    let config =
        json!({"mode": "behave", "url": format!("{}/v1/models", fakes.base_url("anthropic"))})
            .to_string();
    let rule = |prefix: Option<&str>, methods: Option<Vec<HttpMethod>>| EgressRule {
        scheme: Scheme::Http,
        host: "127.0.0.1".into(),
        port: Some(fakes.addr().port()),
        path_prefix: prefix.map(str::to_owned),
        methods,
    };
    let egress = ReqwestEgress::new().expect("client");
    let cases = [
        (
            rule(Some("/anthropic/v1/"), Some(vec![HttpMethod::Get])),
            true,
        ),
        (rule(Some("/anthropic/v1"), None), true),
        (rule(Some("/anthropic/v2/"), None), false),
        (rule(Some("/anthropic/v1/models/x"), None), false),
        (
            rule(None, Some(vec![HttpMethod::Post, HttpMethod::Delete])),
            false,
        ),
    ];
    for (allowed, expected) in cases {
        let rules = vec![allowed.clone()];
        let input = RunInput {
            secret: "sk-ant-FAKE-valid-000000000000",
            fields: &[],
            config_json: &config,
            now_unix_seconds: 1_764_000_000,
            egress: &rules,
        };
        let report = engine.run(&plugin, &input, &egress).await;
        match (&report.result, expected) {
            (Ok(_), true) => {}
            (Err(RunError::EgressDenied { origin }), false) => {
                assert!(origin.starts_with("GET http://127.0.0.1"), "{origin}");
                assert!(report.exchanges.is_empty(), "nothing was sent");
            }
            (other, _) => panic!("{allowed:?}: {other:?}"),
        }
    }
}
