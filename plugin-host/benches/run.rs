//! One full connection test (instantiate, start, one request, resume, outcome) of the
//! Anthropic plugin against a canned 200 response, on Cranelift and on Pulley, against the same
//! check logic compiled as plain native Rust, in the same run.
//!
//! Needs the built component: `script/build-plugins`, then
//! `cargo bench -p byok-plugin-host --bench run`.

use std::hint::black_box;
use std::path::PathBuf;

use byok_core::catalog::{EgressRule, Scheme};
use byok_plugin_anthropic::Anthropic;
use byok_plugin_host::{
    Backend, Egress, EgressError, HttpRequest, HttpResponse, Limits, PluginEngine, RunInput,
};
use byok_plugin_sdk::{drive, json, Context, Credential, Response};
use criterion::{criterion_group, criterion_main, Criterion};

const BODY: &[u8] = br#"{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":true,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"}"#;

/// Answers every request at once with the canned body: no I/O in the measurement.
struct Canned;

impl Egress for Canned {
    async fn send(&self, _: HttpRequest, _: u64, _: usize) -> Result<HttpResponse, EgressError> {
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: BODY.to_vec(),
        })
    }
    fn now_millis(&self) -> u64 {
        0
    }
}

/// Polls a future that never waits (the canned egress) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn component() -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = target.join("plugins/anthropic.wasm");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run script/build-plugins)", path.display()))
}

fn bench(c: &mut Criterion) {
    let bytes = component();
    let egress_rules = vec![EgressRule {
        scheme: Scheme::Https,
        host: "api.anthropic.com".into(),
        port: None,
        path_prefix: None,
        methods: None,
    }];
    let config = json!({"base_url": "https://api.anthropic.com"}).to_string();
    let fields = Vec::new();
    let input = RunInput {
        secret: "sk-ant-fake0-bench-0000000000000000",
        fields: &fields,
        config_json: &config,
        now_unix_seconds: 1_764_000_000,
        egress: &egress_rules,
    };
    let mut g = c.benchmark_group("connection-test");
    g.bench_function("native-rust", |b| {
        b.iter(|| {
            let ctx = Context::new(
                json!({"base_url": "https://api.anthropic.com"}),
                1_764_000_000,
            );
            let out = drive::<Anthropic>(Credential::new(input.secret), ctx, 8, |_| {
                Ok(Response {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: BODY.to_vec(),
                })
            });
            black_box(out.expect("outcome"))
        })
    });
    for (name, backend) in [
        ("cranelift", Backend::Cranelift),
        ("pulley", Backend::Pulley),
    ] {
        let engine = PluginEngine::new(backend, Limits::default()).expect("engine");
        let plugin = engine.load(&bytes).expect("loads");
        g.bench_function(name, |b| {
            b.iter(|| {
                let report = block_on(engine.run(&plugin, &input, &Canned));
                black_box(report.result.expect("outcome"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
