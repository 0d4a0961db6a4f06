//! Precompiled plugin artifacts, bound to (component digest, engine fingerprint) and
//! authenticated with an HMAC under a key only the service holds.
//!
//! `Component::deserialize` trusts its input completely: bytes that did not come from this
//! service's own compiler could run arbitrary code in the host (inside the Worker, next to the
//! master keys). So an artifact is only deserialised after its MAC verifies and its digest and
//! fingerprint match what the caller expects.
//!
//! Layout: `BYOKART1 ‖ digest (32) ‖ engine fingerprint (32) ‖ component size (u32 LE) ‖
//! HMAC-SHA256 (32) ‖ Wasmtime's serialized component`, the MAC covering everything else.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;

use crate::engine::PluginEngine;
use crate::load::{LoadError, LoadedPlugin};

const MAGIC: &[u8; 8] = b"BYOKART1";
const HEADER: usize = 8 + 32 + 32 + 4;
const MAC_LEN: usize = 32;

/// The key artifacts are authenticated with (32 bytes, from the service's secrets).
#[derive(Clone)]
pub struct ArtifactKey([u8; 32]);

impl ArtifactKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("not a plugin artifact")]
    Malformed,
    #[error("the artifact is for another component (digest mismatch)")]
    WrongDigest,
    #[error("the artifact was compiled by another engine version or configuration; recompile it")]
    WrongEngine,
    #[error("the artifact failed its integrity check: it was altered or not made by this service")]
    Unauthentic,
    #[error("the artifact could not be loaded: {0}")]
    Load(String),
    #[error(transparent)]
    Plugin(#[from] LoadError),
}

impl PluginEngine {
    /// Validates and compiles a component and returns it with its sealed artifact.
    #[cfg(any(feature = "native", feature = "worker-compile"))]
    pub fn precompile(
        &self,
        key: &ArtifactKey,
        bytes: &[u8],
    ) -> Result<(LoadedPlugin, Vec<u8>), ArtifactError> {
        crate::load::check_header(bytes)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let digest = crate::load::digest(bytes);
        let plugin = self.prepare(component.clone(), digest, bytes.len())?;
        let serialized = component
            .serialize()
            .map_err(|e| ArtifactError::Load(format!("{e:#}")))?;
        let size = u32::try_from(bytes.len()).map_err(|_| ArtifactError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER + MAC_LEN + serialized.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&digest);
        out.extend_from_slice(self.fingerprint());
        out.extend_from_slice(&size.to_le_bytes());
        let mut mac = key.mac();
        mac.update(&out);
        mac.update(&serialized);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out.extend_from_slice(&serialized);
        Ok((plugin, out))
    }

    /// [`PluginEngine::precompile`] for bytes read back from storage under the name `digest`:
    /// refuses them, before compiling anything, unless their SHA-256 is that digest (bytes
    /// swapped or altered in storage never run under another component's name).
    #[cfg(any(feature = "native", feature = "worker-compile"))]
    pub fn precompile_expecting(
        &self,
        key: &ArtifactKey,
        digest: &[u8; 32],
        bytes: &[u8],
    ) -> Result<(LoadedPlugin, Vec<u8>), ArtifactError> {
        if &crate::load::digest(bytes) != digest {
            return Err(ArtifactError::WrongDigest);
        }
        self.precompile(key, bytes)
    }

    /// Loads an artifact made by [`PluginEngine::precompile`] for the component `digest`,
    /// after checking its binding and integrity.
    pub fn load_artifact(
        &self,
        key: &ArtifactKey,
        digest: &[u8; 32],
        artifact: &[u8],
    ) -> Result<LoadedPlugin, ArtifactError> {
        if artifact.len() < HEADER + MAC_LEN || &artifact[..8] != MAGIC {
            return Err(ArtifactError::Malformed);
        }
        let (header, rest) = artifact.split_at(HEADER);
        let (tag, serialized) = rest.split_at(MAC_LEN);
        let mut mac = key.mac();
        mac.update(header);
        mac.update(serialized);
        mac.verify_slice(tag)
            .map_err(|_| ArtifactError::Unauthentic)?;
        if &header[8..40] != digest {
            return Err(ArtifactError::WrongDigest);
        }
        if &header[40..72] != self.fingerprint() {
            return Err(ArtifactError::WrongEngine);
        }
        let mut size = [0u8; 4];
        size.copy_from_slice(&header[72..76]);
        // SAFETY: `serialized` was produced by `Component::serialize` on an engine with this
        // exact fingerprint (checked above) and is authenticated by an HMAC under a key that
        // only this service holds, so it is this service's own compiler output, unaltered.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, serialized) }
            .map_err(|e| ArtifactError::Load(format!("{e:#}")))?;
        Ok(self.prepare(component, *digest, u32::from_le_bytes(size) as usize)?)
    }
}
