//! The in-isolate work a resolve does besides its I/O, each against a baseline in the same run:
//! counting the resolve ([`Usage::resolved`]) against the isolate-cache hit every cached
//! resolve makes anyway, and recognising a service token seen before ([`Verifier::verify`])
//! against verifying it from scratch ([`verify_token`]: decode, two MACs, claims).
//! A user's token from the platform's identity provider (RS256, ES256, EdDSA, checked against
//! its key set by [`Verifier::check`]) is measured against the HS256 baseline too, fresh and
//! remembered.
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
    idp_tokens(c);
}

/// Identity-provider tokens: each algorithm verified from scratch (a verifier that remembers
/// one token, fed two in turn), and remembered, against HS256 through the same verifier.
fn idp_tokens(c: &mut Criterion) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use byok_core::idp::{Idp, IdpConfig, IdpValues};
    use byok_core::verifier::Outcome;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    use jsonwebtoken::Algorithm;
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let mut rng = rand_core::OsRng;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa");
    let ec_key = p256::ecdsa::SigningKey::random(&mut rng);
    let ed_key = ed25519_dalek::SigningKey::generate(&mut rng);
    let point = ec_key.verifying_key().to_encoded_point(false);
    let jwks = serde_json::json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "n": b64(&rsa_key.n().to_bytes_be()), "e": b64(&rsa_key.e().to_bytes_be())},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed_key.verifying_key().as_bytes())},
    ]})
    .to_string();
    let config = IdpConfig::from_values(
        IdpValues {
            jwks_url: Some("https://idp.example/jwks"),
            tenant_claim: Some("org_id"),
            ..IdpValues::default()
        },
        "https://platform.example",
        "byok",
    )
    .expect("config")
    .expect("some");
    let claims = |sub: &str| {
        serde_json::json!({"sub": sub, "org_id": "acme", "role": "owner",
            "iss": "https://platform.example", "aud": "byok", "exp": NOW_S + 3600})
    };
    let sign = |alg: Algorithm, kid: Option<&str>, key: &EncodingKey, sub: &str| {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_owned);
        encode(&h, &claims(sub), key).expect("token")
    };
    let s = settings();
    let hs_key = EncodingKey::from_secret(s.secret(Signer::User));
    let rs_key = EncodingKey::from_rsa_der(rsa_key.to_pkcs1_der().expect("der").as_bytes());
    let ec_enc = EncodingKey::from_ec_der(ec_key.to_pkcs8_der().expect("der").as_bytes());
    let ed_enc = EncodingKey::from_ed_der(ed_key.to_pkcs8_der().expect("der").as_bytes());
    // Two tokens per kind: a verifier that remembers one token at a time, checking them in
    // turn, verifies each from scratch (times are per pair).
    let pair = |alg, kid, key: &EncodingKey| [sign(alg, kid, key, "u1"), sign(alg, kid, key, "u2")];
    let kinds = [
        (
            "HS256 pair, from scratch (baseline)",
            pair(Algorithm::HS256, None, &hs_key),
        ),
        (
            "RS256 pair, from scratch",
            pair(Algorithm::RS256, Some("rsa"), &rs_key),
        ),
        (
            "ES256 pair, from scratch",
            pair(Algorithm::ES256, Some("ec"), &ec_enc),
        ),
        (
            "EdDSA pair, from scratch",
            pair(Algorithm::EdDSA, Some("ed"), &ed_enc),
        ),
    ];
    let verifier = |capacity| {
        let mut v =
            Verifier::with_capacity(settings(), capacity).with_idp(Some(Idp::new(config.clone())));
        v.keys_fetched(jwks.as_bytes(), Some("max-age=3600"), NOW_S)
            .expect("jwks");
        v
    };
    let mut g = c.benchmark_group("idp-token");
    for (name, [a, b]) in &kinds {
        let mut v = verifier(1);
        assert!(matches!(v.check(a, NOW_S), Outcome::Verified(..)), "{name}");
        g.bench_function(*name, |bench| {
            bench.iter(|| {
                let x = matches!(v.check(black_box(b), NOW_S), Outcome::Verified(..));
                let y = matches!(v.check(black_box(a), NOW_S), Outcome::Verified(..));
                black_box(x && y)
            })
        });
    }
    let mut warm = verifier(16);
    let [rs_a, rs_b] = &kinds[1].1;
    g.bench_function("RS256 pair, seen before", |bench| {
        bench.iter(|| {
            let x = matches!(warm.check(black_box(rs_a), NOW_S), Outcome::Verified(..));
            let y = matches!(warm.check(black_box(rs_b), NOW_S), Outcome::Verified(..));
            black_box(x && y)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
