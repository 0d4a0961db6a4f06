//! Keyring seal/open of a 100-byte key against raw AES-256-GCM on the same input, same run.
//!
//! The baseline does what any AES-GCM storage must: draw a nonce, encrypt with associated
//! data, decrypt. The keyring adds the binding encoding, the key id framing of the stored
//! bytes, and (on open) taking the bytes from storage. Run: `cargo bench -p byok-core --bench keyring`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::{Binding, KeyId, Keyring, KeyringDocument, Sealed};
use byok_core::SecretString;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_core::{OsRng, RngCore};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let secret_text = "k".repeat(100);
    let secret = SecretString::from(secret_text.as_str());
    let doc = KeyringDocument::generate(KeyId::parse("k1").expect("id"), &mut OsRng).expect("doc");
    let ring = Keyring::from_document(&doc).expect("keyring");
    let tenant = TenantId::parse("tenant-a").expect("id");
    let provider = ProviderKey::parse("anthropic").expect("id");
    let binding = Binding::tenant(&tenant, &provider, "key");
    let mut raw_key = [0u8; 32];
    OsRng.fill_bytes(&mut raw_key);
    let raw = Aes256Gcm::new(&raw_key.into());
    let aad = b"tenant-a|anthropic|key";

    let mut g = c.benchmark_group("seal-100B");
    g.bench_function(BenchmarkId::new("raw-aes-256-gcm", 100), |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            OsRng.fill_bytes(&mut nonce);
            let ct = raw
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: secret_text.as_bytes(),
                        aad,
                    },
                )
                .expect("encrypt");
            black_box((nonce, ct))
        })
    });
    g.bench_function(BenchmarkId::new("keyring", 100), |b| {
        b.iter(|| {
            black_box(
                ring.seal(binding, &secret, &mut OsRng)
                    .expect("seal")
                    .into_bytes(),
            )
        })
    });
    g.finish();

    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let raw_ct = raw
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret_text.as_bytes(),
                aad,
            },
        )
        .expect("encrypt");
    let stored = ring
        .seal(binding, &secret, &mut OsRng)
        .expect("seal")
        .into_bytes();
    let mut g = c.benchmark_group("open-100B");
    g.bench_function(BenchmarkId::new("raw-aes-256-gcm", 100), |b| {
        b.iter(|| {
            let pt = raw
                .decrypt(Nonce::from_slice(&nonce), Payload { msg: &raw_ct, aad })
                .expect("decrypt");
            black_box(String::from_utf8(pt).expect("utf8"))
        })
    });
    g.bench_function(BenchmarkId::new("keyring", 100), |b| {
        b.iter(|| {
            // From the bytes storage hands over (a copy here, as a read from D1 would be).
            let sealed = Sealed::from_bytes(stored.clone()).expect("framing");
            black_box(ring.open(binding, &sealed).expect("open"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
