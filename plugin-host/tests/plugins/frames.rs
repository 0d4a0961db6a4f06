//! The host's parsers of bytes and values from outside, fed arbitrary input: component bytes
//! (an admin's upload), artifact frames (read back from KV), and the values a plugin returns.
//! No panic; every refusal is a typed error; whatever a plugin returns is bounded and scrubbed.

use byok_core::status::Verdict;
use byok_fake_providers::FakeProviders;
use byok_plugin_host::artifact::ArtifactKey;
use byok_plugin_host::{Backend, RunError};
use proptest::prelude::*;
use serde_json::json;

use crate::common::{component, engine, run, Case};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn component_bytes_and_artifact_frames_from_anything(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        wasm_header in any::<bool>(),
    ) {
        let engine = engine(Backend::Pulley);
        let mut bytes = bytes;
        if wasm_header {
            // Past the magic number, into the component parser.
            let mut framed = b"\0asm\x0d\0\x01\0".to_vec();
            framed.extend_from_slice(&bytes);
            bytes = framed;
        }
        prop_assert!(engine.load(&bytes).is_err());
        let mut artifact = b"BYOKART1".to_vec();
        artifact.extend_from_slice(&bytes);
        prop_assert!(engine.load_artifact(&ArtifactKey::new([1; 32]), &[0; 32], &artifact).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever verdict and text a plugin returns: an outcome within the limits, scrubbed of
    /// the key, or a named error for output that is too large.
    #[test]
    fn any_outcome_a_plugin_returns(
        verdict in 0u64..7,
        message in "\\PC{0,300}",
        label in proptest::option::of("\\PC{0,80}"),
        warnings in prop::collection::vec("\\PC{0,100}", 0..40),
        echo in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let secret = "sk-FAKE-frames-0123456789";
        let message = if echo { format!("{message}{secret}") } else { message };
        rt.block_on(async {
            let fakes = FakeProviders::start(0).await.expect("fakes");
            // Compiled once: the property is the host's bounds and scrubbing, not the backend.
            let (engine, plugin) = hostile_once();
            let case = Case {
                secret,
                fields: vec![],
                config: json!({"mode": "outcome-from-config", "verdict": verdict, "message": message,
                               "label": label, "warnings": warnings}),
            };
            match run(engine, plugin, &fakes, &case).await.result {
                Ok(o) => {
                    prop_assert!(o.warnings.len() <= 32);
                    prop_assert!(!o.message.contains(secret));
                    if verdict == 0 {
                        prop_assert_eq!(o.verdict, Verdict::Connected);
                    }
                }
                Err(e) => prop_assert!(matches!(e, RunError::OutputTooLarge { .. }), "{e:?}"),
            }
            Ok(())
        })?;
    }
}

/// The hostile component, loaded once for the request property (compiling per case would
/// dominate it).
fn hostile_once() -> &'static (
    byok_plugin_host::PluginEngine,
    byok_plugin_host::LoadedPlugin,
) {
    static ONCE: std::sync::OnceLock<(
        byok_plugin_host::PluginEngine,
        byok_plugin_host::LoadedPlugin,
    )> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let engine = engine(Backend::Cranelift);
        let plugin = engine.load(&component("hostile")).expect("loads");
        (engine, plugin)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever request a plugin returns (any method, URL text, headers and body size): it is
    /// sent to an allowed origin and the run goes on, or it is refused with a named error;
    /// the key is in no error and no shown URL, even when the plugin put it in the query.
    #[test]
    fn any_request_a_plugin_returns(
        method in 0u64..6,
        tail in "\\PC{0,120}",
        whole in any::<bool>(),
        headers in prop::collection::vec(("\\PC{0,24}", "\\PC{0,48}"), 0..80),
        body_bytes in proptest::option::of(0u64..70_000),
        echo in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let secret = "sk-FAKE-request-0123456789";
        rt.block_on(async {
            let fakes = FakeProviders::start(0).await.expect("fakes");
            let (engine, plugin) = hostile_once();
            let base = fakes.base_url("anthropic");
            let mut url = if whole { tail.clone() } else { format!("{base}/{tail}") };
            if echo {
                url.push_str(&format!("?key={secret}"));
            }
            let case = Case {
                secret,
                fields: vec![],
                config: json!({"mode": "request-from-config", "method": method, "request_url": url,
                               "headers": headers, "body_bytes": body_bytes}),
            };
            let report = run(engine, plugin, &fakes, &case).await;
            let exchanges = format!("{:?}", report.exchanges);
            prop_assert!(!exchanges.contains(secret), "{exchanges}");
            match &report.result {
                Ok(o) => prop_assert_eq!(o.verdict, Verdict::Connected),
                Err(e) => {
                    prop_assert!(
                        matches!(
                            e,
                            RunError::BadRequest(_)
                                | RunError::EgressDenied { .. }
                                | RunError::OutputTooLarge { .. }
                                | RunError::StepTooLarge { .. }
                                | RunError::RequestTooLarge { .. }
                        ),
                        "{e:?}"
                    );
                    prop_assert!(!e.to_string().contains(secret), "{e}");
                }
            }
            Ok(())
        })?;
    }
}
