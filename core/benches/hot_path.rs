//! The in-isolate work a resolve does besides its I/O, each against a baseline in the same run:
//! counting the resolve ([`Usage::resolved`]) against the isolate-cache hit every cached
//! resolve makes anyway, and recognising a service token seen before ([`Verifier::verify`])
//! against verifying it from scratch ([`verify_token`]: decode, two MACs, claims).
//! Run: `cargo bench -p byok-core --bench hot_path`.

use byok_core::auth::{verify_token, AuthSettings, Claims, Role, Signer};
use byok_core::resolve::Source;
use byok_core::resolve_cache::ResolveCache;
use byok_core::usage::Usage;
use byok_core::verifier::Verifier;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{encode, EncodingKey, Header};
use std::hint::black_box;

const NOW_S: u64 = 1_764_000_000;

fn settings() -> AuthSettings {
    AuthSettings::from_values(
        Some("user-secret-0123456789abcdef0123456789"),
        Some("service-secret-0123456789abcdef01234567"),
        Some("https://platform.example"),
        Some("byok"),
    )
    .expect("settings")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("resolve-in-isolate");
    let mut cache: ResolveCache<String> = ResolveCache::new(30_000, 4 << 20);
    let ticket = cache.ticket();
    cache.insert("tenant-a", "anthropic", ticket, "k".repeat(100), 228, 0);
    g.bench_function("cache-hit (baseline)", |b| {
        b.iter(|| black_box(cache.get(black_box("tenant-a"), black_box("anthropic"), 1)))
    });
    let mut usage = Usage::new();
    let mut now_ms = NOW_S * 1000;
    g.bench_function("count-resolve", |b| {
        b.iter(|| {
            now_ms += 1;
            black_box(usage.resolved(
                black_box("tenant-a"),
                black_box("anthropic"),
                Source::Tenant,
                now_ms,
            ))
        })
    });
    g.finish();

    let s = settings();
    let claims = Claims {
        sub: "ai-functions".into(),
        tenant: "platform".into(),
        role: Role::Service,
        exp: NOW_S + 30 * 86_400,
        iss: "https://platform.example".into(),
        aud: "byok".into(),
        providers: None,
        tenants: None,
        session: None,
    };
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(s.secret(Signer::Service)),
    )
    .expect("token");
    let mut g = c.benchmark_group("service-token");
    g.bench_function("verify_token (baseline)", |b| {
        b.iter(|| black_box(verify_token(black_box(&token), &s, NOW_S)))
    });
    let mut verifier = Verifier::new(settings());
    g.bench_function("verifier, seen before", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&token), NOW_S)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
