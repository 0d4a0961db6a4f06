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

/// v2 plugins (Anthropic, OpenAI, Stripe) and a v1 plugin (SendGrid) run in
/// the same engine, side by side: the v2 ones say why the provider refused, the v1 ones run
/// unchanged with nothing more to say.
#[tokio::test]
async fn v1_and_v2_plugins_run_side_by_side_and_v2_says_more() {
    use byok_plugin_host::Hint;
    let fakes = FakeProviders::start(0).await.expect("fakes");
    for backend in BACKENDS {
        let engine = engine(backend);
        let anthropic = engine.load(&component("anthropic")).expect("loads");
        let openai = engine.load(&component("openai")).expect("loads");
        let stripe = engine.load(&component("stripe")).expect("loads");
        let sendgrid = engine.load(&component("sendgrid")).expect("loads");
        let case = |secret: &'static str, provider: &str| Case {
            secret,
            fields: vec![],
            config: json!({"base_url": fakes.base_url(provider)}),
        };
        let billing = run(
            &engine,
            &anthropic,
            &fakes,
            &case("sk-ant-fake0-billing-0001", "anthropic"),
        )
        .await;
        let o = billing.result.expect("an outcome");
        assert_eq!(
            (o.verdict, o.details.hint),
            (Verdict::InsufficientPermission, Some(Hint::Billing)),
            "{backend:?}"
        );
        let quota = run(
            &engine,
            &openai,
            &fakes,
            &case("sk-test-proj-quota-000000000000", "openai"),
        )
        .await;
        assert_eq!(
            quota.result.expect("outcome").details.hint,
            Some(Hint::Billing)
        );
        let scopes = run(
            &engine,
            &openai,
            &fakes,
            &case("sk-test-proj-noscope-0000000000", "openai"),
        )
        .await;
        let o = scopes.result.expect("an outcome");
        assert_eq!(o.verdict, Verdict::InsufficientPermission);
        assert_eq!(o.details.missing_scopes, ["api.model.read"], "{o:?}");
        let expired = run(
            &engine,
            &stripe,
            &fakes,
            &case("sk_test_fakeexpired0000000000000000", "stripe"),
        )
        .await;
        let o = expired.result.expect("an outcome");
        assert_eq!(
            (o.verdict, o.details.hint),
            (Verdict::InvalidCredential, Some(Hint::Expired))
        );
        // A v2 plugin that found nothing more says nothing more.
        let fine = run(
            &engine,
            &anthropic,
            &fakes,
            &case("sk-ant-fake0-valid-0001", "anthropic"),
        )
        .await;
        assert_eq!(
            fine.result.expect("outcome").details,
            byok_plugin_host::Details::default()
        );
        // A v1 plugin in the same engine: unchanged, no details.
        let v1 = run(
            &engine,
            &sendgrid,
            &fakes,
            &case("SG.valid-00000000000000000000", "sendgrid"),
        )
        .await;
        let o = v1.result.expect("an outcome");
        assert_eq!(o.verdict, Verdict::Connected, "{o:?}");
        assert_eq!(o.details, byok_plugin_host::Details::default());
    }
}
