use byok_core::status::Verdict;
use byok_fake_providers::FakeProviders;
use byok_plugin_host::RunError;
use serde_json::json;

use crate::common::{component, engine, run, Case, BACKENDS};

#[tokio::test]
async fn anthropic_verdicts_match_the_api_errors_on_both_backends() {
    let fakes = FakeProviders::start(0).await.expect("fakes");
    let config = json!({"base_url": fakes.base_url("anthropic")});
    let cases = [
        ("sk-ant-fake0-valid-0001", Ok(Verdict::Connected)),
        ("sk-ant-fake0-badkey-0001", Ok(Verdict::InvalidCredential)),
        (
            "sk-ant-fake0-noscope-001",
            Ok(Verdict::InsufficientPermission),
        ),
        ("sk-ant-fake0-ratelimit-1", Ok(Verdict::RateLimited)),
        ("sk-ant-fake0-down-00001", Ok(Verdict::ProviderUnavailable)),
        ("sk-ant-fake0-slow-00001", Ok(Verdict::ProviderUnavailable)),
        ("sk-ant-fake0-garbage-01", Ok(Verdict::UnexpectedResponse)),
        ("sk-ant-fake0-redirect-1", Ok(Verdict::UnexpectedResponse)),
        (
            "sk-ant-fake0-huge-00001",
            Err(RunError::ResponseTooLarge { limit: 1 << 20 }),
        ),
    ];
    for backend in BACKENDS {
        let engine = engine(backend);
        let plugin = engine.load(&component("anthropic")).expect("loads");
        for (secret, want) in &cases {
            let case = Case {
                secret,
                fields: vec![],
                config: config.clone(),
            };
            let report = run(&engine, &plugin, &fakes, &case).await;
            let got = report.result.clone().map(|o| o.verdict);
            assert_eq!(&got, want, "{backend:?} {secret}: {report:?}");
            if let Ok(o) = &report.result {
                assert!(
                    !o.message.contains(secret),
                    "the message must not echo the key"
                );
            }
            if secret.contains("redirect") {
                assert_eq!(report.exchanges.len(), 1, "a redirect is not followed");
                assert_eq!(report.exchanges[0].result, Ok(302));
            }
        }
    }
}
