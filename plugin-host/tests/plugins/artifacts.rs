//! Precompiled artifacts load only when they are this service's own, for this component and
//! this engine.

use byok_plugin_host::artifact::{ArtifactError, ArtifactKey};
use byok_plugin_host::Backend;

use crate::common::{component, engine};

#[test]
fn artifacts_are_bound_and_integrity_checked() {
    let bytes = component("anthropic");
    let key = ArtifactKey::new([7; 32]);
    let cranelift = engine(Backend::Cranelift);
    let (plugin, artifact) = cranelift.precompile(&key, &bytes).expect("precompile");
    let loaded = cranelift
        .load_artifact(&key, plugin.digest(), &artifact)
        .expect("loads back");
    assert_eq!(loaded.digest(), plugin.digest());

    let mut tampered = artifact.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        cranelift.load_artifact(&key, plugin.digest(), &tampered),
        Err(ArtifactError::Unauthentic)
    ));
    assert!(matches!(
        cranelift.load_artifact(&ArtifactKey::new([8; 32]), plugin.digest(), &artifact),
        Err(ArtifactError::Unauthentic)
    ));
    assert!(matches!(
        cranelift.load_artifact(&key, &[0; 32], &artifact),
        Err(ArtifactError::WrongDigest)
    ));
    assert!(matches!(
        engine(Backend::Pulley).load_artifact(&key, plugin.digest(), &artifact),
        Err(ArtifactError::WrongEngine)
    ));
    assert!(matches!(
        cranelift.load_artifact(&key, plugin.digest(), b"junk"),
        Err(ArtifactError::Malformed)
    ));

    // Bytes read back from storage compile only under their own digest.
    let other = component("openai");
    assert!(matches!(
        cranelift.precompile_expecting(&key, plugin.digest(), &other),
        Err(ArtifactError::WrongDigest)
    ));
    let (again, _) = cranelift
        .precompile_expecting(&key, plugin.digest(), &bytes)
        .expect("its own bytes");
    assert_eq!(again.digest(), plugin.digest());

    let (pulley_plugin, pulley_artifact) = engine(Backend::Pulley)
        .precompile(&key, &bytes)
        .expect("pulley precompile");
    engine(Backend::Pulley)
        .load_artifact(&key, pulley_plugin.digest(), &pulley_artifact)
        .expect("pulley loads its own");
}
