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
        let cases: [(&str, Expect); 7] = [
            ("loop", |e| matches!(e, RunError::OutOfFuel { .. })),
            ("memory", |e| matches!(e, RunError::MemoryLimit { .. })),
            ("huge-output", |e| {
                matches!(
                    e,
                    RunError::OutputTooLarge { .. } | RunError::MemoryLimit { .. }
                )
            }),
            ("trap", |e| matches!(e, RunError::Trap(_))),
            ("steps", |e| matches!(e, RunError::TooManySteps { .. })),
            (
                "off-allowlist",
                |e| matches!(e, RunError::EgressDenied { origin } if origin == "https://evil.example.net:443"),
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
