//! What the host refuses to load, and why it says so.

use byok_plugin_host::load::MAX_COMPONENT_BYTES;
use byok_plugin_host::{Backend, LoadError};

use crate::common::{component, engine};

fn load(bytes: &[u8]) -> Result<(), LoadError> {
    engine(Backend::Cranelift).load(bytes).map(|_| ())
}

#[test]
fn every_seeded_kind_of_refusal_is_named() {
    assert_eq!(load(b"hello"), Err(LoadError::NotWasm));
    assert_eq!(
        load(&wat::parse_str("(module)").expect("wat")),
        Err(LoadError::CoreModule)
    );
    let big = vec![0u8; MAX_COMPONENT_BYTES + 1];
    assert!(matches!(load(&big), Err(LoadError::TooLarge { .. })));

    let wasi = wat::parse_str(
        r#"(component (import "wasi:cli/environment@0.2.0" (instance (export "get-environment" (func)))))"#,
    )
    .expect("wat");
    let err = load(&wasi).expect_err("imports");
    assert_eq!(
        err,
        LoadError::HasImports(vec!["wasi:cli/environment@0.2.0".into()])
    );
    assert!(err.to_string().contains("must import nothing"));

    let empty = wat::parse_str("(component)").expect("wat");
    assert_eq!(load(&empty), Err(LoadError::NotAPlugin { exports: vec![] }));

    let v2 = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $check (export "start" (func $f)))
            (export "byok:plugin/check@2.0.0" (instance $check)))"#,
    )
    .expect("wat");
    assert!(
        matches!(load(&v2), Err(LoadError::UnsupportedContract { found }) if found == "byok:plugin/check@2.0.0")
    );

    let wrong_shape = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $check (export "start" (func $f)))
            (export "byok:plugin/check@1.0.0" (instance $check)))"#,
    )
    .expect("wat");
    assert!(
        matches!(load(&wrong_shape), Err(LoadError::WrongShape(_))),
        "{:?}",
        load(&wrong_shape)
    );
}

#[test]
fn a_real_plugin_loads_with_its_digest_and_version() {
    let bytes = component("anthropic");
    let plugin = engine(Backend::Pulley).load(&bytes).expect("loads");
    assert_eq!(
        plugin.version().as_str(),
        "v2",
        "Anthropic says more: wit/v2"
    );
    let v1 = engine(Backend::Pulley)
        .load(&component("sendgrid"))
        .expect("loads");
    assert_eq!(
        v1.version().as_str(),
        "v1",
        "SendGrid has nothing more to say: wit/v1"
    );
    assert_eq!(plugin.digest(), &byok_plugin_host::load::digest(&bytes));
    assert_eq!(plugin.size(), bytes.len());
}
