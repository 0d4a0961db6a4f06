//! The client's cache-hit path against the same call with no cache (the transport answers
//! at once, so the difference is the request the cache saves: serialising, parsing, the
//! secret copies). Run: `cargo bench -p byok-client --bench cache`.

use std::hint::black_box;

use byok_client::{Cache, Client, RawResponse, Transport};
use criterion::{criterion_group, criterion_main, Criterion};

struct Instant(RawResponse);

impl Transport for &Instant {
    async fn post(&self, _: &str, _: &str, _: String) -> Result<RawResponse, String> {
        Ok(self.0.clone())
    }
}

fn answer(cache_control: Option<&str>) -> Instant {
    Instant(RawResponse {
        status: 200,
        cache_control: cache_control.map(str::to_owned),
        retry_after: None,
        body: br#"{"provider":"anthropic","api_key":"sk-ant-FAKE-bench-00000000000000000000000000000000","source":"tenant","status":"connected"}"#.to_vec(),
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cached = answer(Some("private, max-age=3600"));
    let uncached = answer(None);
    let hit = Client::new(&cached, "t").with_cache(Cache::new(100));
    let miss = Client::new(&uncached, "t").with_cache(Cache::new(100));
    rt.block_on(hit.get_ai_config("acme", "anthropic")).ok();
    let mut g = c.benchmark_group("get_ai_config");
    g.bench_function("cache hit", |b| {
        b.iter(|| black_box(rt.block_on(hit.get_ai_config("acme", "anthropic")).ok()))
    });
    g.bench_function("no cache (instant transport)", |b| {
        b.iter(|| black_box(rt.block_on(miss.get_ai_config("acme", "anthropic")).ok()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
