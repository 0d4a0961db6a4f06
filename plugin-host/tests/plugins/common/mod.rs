//! Shared helpers: the built components, both backends, and a run against the loopback fakes.

#![allow(dead_code)]

use std::path::PathBuf;

use byok_core::catalog::{EgressRule, Scheme};
use byok_fake_providers::FakeProviders;
use byok_plugin_host::egress_reqwest::ReqwestEgress;
use byok_plugin_host::{Backend, Limits, LoadedPlugin, PluginEngine, RunInput, RunReport};

/// Where `script/build-plugins` writes components.
pub fn components_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("plugins")
}

/// A built plugin component's bytes.
pub fn component(name: &str) -> Vec<u8> {
    let path = components_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: script/build-plugins (script/test does it)",
            path.display()
        )
    })
}

/// Limits for tests: a short total time, so that the `slow` fake times out quickly.
pub fn test_limits() -> Limits {
    Limits {
        total_time_ms: 1_500,
        ..Limits::default()
    }
}

pub fn engine(backend: Backend) -> PluginEngine {
    PluginEngine::new(backend, test_limits()).expect("engine")
}

pub const BACKENDS: [Backend; 2] = [Backend::Cranelift, Backend::Pulley];

/// The allowlist entry for the fakes' origin.
pub fn allow_fakes(fakes: &FakeProviders) -> Vec<EgressRule> {
    vec![EgressRule {
        scheme: Scheme::Http,
        host: "127.0.0.1".into(),
        port: Some(fakes.addr().port()),
        path_prefix: None,
        methods: None,
    }]
}

pub struct Case<'a> {
    pub secret: &'a str,
    pub fields: Vec<(String, String)>,
    pub config: serde_json::Value,
}

pub async fn run(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    fakes: &FakeProviders,
    case: &Case<'_>,
) -> RunReport {
    let egress_rules = allow_fakes(fakes);
    let config = case.config.to_string();
    let input = RunInput {
        secret: case.secret,
        fields: &case.fields,
        config_json: &config,
        now_unix_seconds: 1_764_000_000,
        egress: &egress_rules,
    };
    let egress = ReqwestEgress::new().expect("client");
    engine.run(plugin, &input, &egress).await
}
