//! Every parser of input from outside, fed arbitrary bytes and arbitrary JSON: no panic, and
//! every refusal a typed error (`script/test` runs these; the counts are per property).
//!
//! The inputs: catalog entries (what an admin PUTs), credential fields and form values (what a
//! tenant pastes), ids from paths and bodies, the keyring document (an operator's secret) and
//! a sealed frame read back from D1 (storage is outside the trust boundary of a frame: it is
//! authenticated on open).

use std::collections::BTreeMap;

use byok_core::catalog::{CatalogEntry, ProviderSpec};
use byok_core::credential::Credential;
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::{Binding, Keyring, KeyringDocument, Sealed};
use byok_core::mask::{FormValue, Mask};
use byok_core::SecretString;
use proptest::prelude::*;
use serde_json::{json, Value};

const CASES: u32 = 2_000;

/// JSON trees biased toward the catalog's own field names, so that generated entries get past
/// the first `unknown field` and reach the deeper rules.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "name",
        "description",
        "category",
        "auth_type",
        "credential_label",
        "credential_hint",
        "help_url",
        "help_instructions",
        "credential_fields",
        "label",
        "hint",
        "secret",
        "required",
        "pattern",
        "multiline",
        "test_plugin",
        "digest",
        "config",
        "egress",
        "scheme",
        "host",
        "port",
        "path_prefix",
        "methods",
        "platform_fallback",
        "rejection_statuses",
        "logo",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "api-key",
            "https",
            "http",
            "127.0.0.1",
            "GET",
            "/v1/",
            "https://example.com/x",
            "^[a-z]+$",
            "(",
            "a".repeat(64).leak() as &str
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(names.clone(), inner, 0..10).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

fn keyring() -> Keyring {
    let doc: KeyringDocument = serde_json::from_value(json!({
        "primary": "k1",
        "keys": {"k1": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="},
        "fingerprint_key": "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
    }))
    .expect("document");
    Keyring::from_document(&doc).expect("keyring")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn catalog_entries_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(spec) = serde_json::from_slice::<ProviderSpec>(&bytes) {
            let _ = CatalogEntry::new(ProviderKey::parse("fuzz").expect("key"), spec);
        }
    }

    #[test]
    fn catalog_entries_from_any_json(v in json_value()) {
        if let Ok(spec) = serde_json::from_value::<ProviderSpec>(v) {
            if let Ok(entry) = CatalogEntry::new(ProviderKey::parse("fuzz").expect("key"), spec) {
                let _ = entry.private_egress();
                let _ = entry.credential_fields();
            }
        }
    }

    #[test]
    fn credentials_and_form_values(
        key in ".{0,64}",
        fields in prop::collection::btree_map("[a-z_]{1,12}", ".{0,64}", 0..4),
        with_mask in any::<bool>(),
    ) {
        let entry: CatalogEntry = CatalogEntry::new(
            ProviderKey::parse("twilio").expect("key"),
            serde_json::from_value(json!({
                "name": "T", "description": "d", "auth_type": "key-pair",
                "credential_label": "Token", "help_url": "https://example.com/k",
                "credential_fields": [
                    {"name": "account_sid", "label": "SID", "secret": false, "pattern": "^AC[0-9a-f]{32}$"},
                    {"name": "auth_token", "label": "Token", "secret": true},
                    {"name": "region", "label": "Region", "secret": false, "required": false}
                ]
            })).expect("spec"),
        ).expect("entry");
        let fields: BTreeMap<String, SecretString> =
            fields.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect();
        let _ = Credential::check(&entry, SecretString::from(key.clone()), fields);
        let ring = keyring();
        let tenant = TenantId::parse("t1").expect("tenant");
        let provider = ProviderKey::parse("twilio").expect("key");
        let stored: Mask = ring.mask(
            Binding::tenant(&tenant, &provider, "auth_token"),
            &SecretString::from("0123456789abcdef0123".to_owned()),
        );
        let _ = FormValue::parse(SecretString::from(key), with_mask.then_some(&stored));
    }

    #[test]
    fn ids_from_any_text(s in "\\PC{0,80}") {
        if let Ok(k) = ProviderKey::parse(&s) {
            prop_assert_eq!(k.as_str(), s.as_str());
        }
        let _ = TenantId::parse(&s);
    }

    #[test]
    fn keyring_documents_from_any_text(s in "\\PC{0,200}") {
        let _ = Keyring::from_json(&s);
    }

    #[test]
    fn sealed_frames_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        let ring = keyring();
        let tenant = TenantId::parse("t1").expect("tenant");
        let provider = ProviderKey::parse("openai").expect("key");
        if let Ok(sealed) = Sealed::from_bytes(bytes) {
            prop_assert!(ring.open(Binding::tenant(&tenant, &provider, "key"), &sealed).is_err());
        }
    }

    #[test]
    fn a_sealed_frame_with_any_byte_changed_does_not_open(index in 0usize..200, flip in 1u8..=255) {
        let ring = keyring();
        let tenant = TenantId::parse("t1").expect("tenant");
        let provider = ProviderKey::parse("openai").expect("key");
        let binding = Binding::tenant(&tenant, &provider, "key");
        let sealed = ring
            .seal(binding, &SecretString::from("sk-FAKE-fuzz-0123456789".to_owned()), &mut rand_core::OsRng)
            .expect("seal");
        let mut bytes = sealed.into_bytes();
        let i = index % bytes.len();
        bytes[i] ^= flip;
        if let Ok(altered) = Sealed::from_bytes(bytes) {
            prop_assert!(ring.open(binding, &altered).is_err());
        }
    }

    #[test]
    fn malformed_bodies_are_described_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = serde_json::from_slice::<ProviderSpec>(&bytes) {
            let d = byok_core::json_error::detail(&e);
            prop_assert!(!d.is_empty());
        }
    }
}
