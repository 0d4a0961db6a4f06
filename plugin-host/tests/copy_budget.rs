//! What the host allocates to read a plugin's step is bounded by `Limits::step_bytes`, however
//! many entries the plugin returns: a hundred thousand empty headers or warnings are refused
//! while being read, before the host holds a copy of them.
//!
//! Measured with dhat's heap statistics, in a binary of its own so that no other test
//! allocates meanwhile, on Cranelift, whose linear memory is mapped rather than allocated (on
//! Pulley the plugin's own memory comes from the allocator too, so only the refusal is
//! checked there; the reading code is the same wasmtime code on both). Components come from
//! `script/build-plugins`.

#[path = "plugins/common/mod.rs"]
mod common;

use byok_fake_providers::FakeProviders;
use byok_plugin_host::egress_reqwest::ReqwestEgress;
use byok_plugin_host::{Backend, RunError, RunInput};
use serde_json::json;

use common::{allow_fakes, component, engine, BACKENDS};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// What the host would hold for the plugin's hundred thousand entries had it copied them.
const COPIED: usize = 100_000 * std::mem::size_of::<String>();

/// Peak bytes the host allocated while `f` ran.
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let profiler = dhat::Profiler::builder().testing().build();
    let out = f();
    let stats = dhat::HeapStats::get();
    drop(profiler);
    (out, stats.max_bytes)
}

#[test]
fn steps_over_the_budget_are_refused_before_copying() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let rules = allow_fakes(&fakes);
    let egress = ReqwestEgress::new().expect("client");
    for backend in BACKENDS {
        let engine = engine(backend);
        let budget = engine.limits().step_bytes();
        assert!(
            budget * 4 < COPIED,
            "the budget {budget} is not far below {COPIED}"
        );
        let plugin = engine.load(&component("hostile")).expect("loads");
        for mode in ["many-headers", "many-warnings"] {
            let config =
                json!({"mode": mode, "url": format!("{}/v1/models", fakes.base_url("anthropic"))})
                    .to_string();
            let input = RunInput {
                secret: "sk-hostile-secret-value",
                fields: &[],
                config_json: &config,
                now_unix_seconds: 1_764_000_000,
                egress: &rules,
            };
            let (report, bytes) = peak(|| rt.block_on(engine.run(&plugin, &input, &egress)));
            eprintln!("{backend:?} {mode}: peak {bytes} bytes, budget {budget}");
            assert!(
                matches!(report.result, Err(RunError::StepTooLarge { limit }) if limit == budget),
                "{backend:?} {mode}: {:?} (peak {bytes} bytes)",
                report.result
            );
            assert!(
                backend != Backend::Cranelift || bytes < COPIED / 2,
                "{backend:?} {mode}: the host allocated {bytes} bytes at its peak"
            );
            if mode == "many-warnings" {
                let (warnings, bytes) = peak(|| engine.format_check(&plugin, &input));
                assert!(
                    matches!(warnings, Err(RunError::StepTooLarge { .. })),
                    "{backend:?} format check: {warnings:?}"
                );
                assert!(
                    backend != Backend::Cranelift || bytes < COPIED / 2,
                    "{backend:?} format check: the host allocated {bytes} bytes at its peak"
                );
            }
        }
    }
}
