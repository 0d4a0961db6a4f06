//! Validating plugin bytes: a component of a supported contract version that imports nothing.

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};

use crate::bindings::PluginPre;
use crate::engine::{hex, PluginEngine};
use crate::run::HostState;

/// The largest component accepted.
pub const MAX_COMPONENT_BYTES: usize = 4 << 20;

/// The contract versions this host runs. A new version is added beside the old ones, which
/// keep running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    V1,
    /// v1's `check` plus `details` (expiry, missing scopes, a hint), `wit/v2`.
    V2,
}

/// The export every version carries: the test itself.
pub const CHECK_EXPORT: &str = "byok:plugin/check@1.0.0";

impl ContractVersion {
    /// Newest first: a component is of the newest version whose exports it carries.
    pub const SUPPORTED: [ContractVersion; 2] = [ContractVersion::V2, ContractVersion::V1];

    /// The export that tells this version apart (v2 carries v1's `check` as well).
    pub fn export_name(self) -> &'static str {
        match self {
            ContractVersion::V1 => CHECK_EXPORT,
            ContractVersion::V2 => crate::details::INTERFACE,
        }
    }

    /// Whether a component with these exports implements this version.
    fn implemented_by(self, exports: &[String]) -> bool {
        let has = |name: &str| exports.iter().any(|e| e == name);
        has(CHECK_EXPORT) && has(self.export_name())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V1 => "v1",
            ContractVersion::V2 => "v2",
        }
    }
}

/// Why bytes were refused as a plugin. Each says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("the plugin is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("not a WebAssembly binary (no \\0asm header)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build it with `byok plugin build` \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("not a valid component: {0}")]
    Invalid(String),
    #[error(
        "the component imports {}: plugins must import nothing (build for \
         wasm32-unknown-unknown, not WASI)", .0.join(", ")
    )]
    HasImports(Vec<String>),
    #[error(
        "the component implements contract {found}, which this host does not run \
         (supported: byok:plugin/check@1.0.0)"
    )]
    UnsupportedContract { found: String },
    #[error(
        "the component does not export byok:plugin/check@1.0.0; it exports: {}",
        if .exports.is_empty() { "nothing".to_owned() } else { .exports.join(", ") }
    )]
    NotAPlugin { exports: Vec<String> },
    #[error("the component's byok:plugin/check@1.0.0 export does not match the contract: {0}")]
    WrongShape(String),
}

/// SHA-256 of a component's bytes: its name in storage and in catalog entries.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A validated, compiled plugin, ready to instantiate for each run.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) digest: [u8; 32],
    pub(crate) version: ContractVersion,
    pub(crate) size: usize,
    pub(crate) pre: PluginPre<HostState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("digest", &self.digest_hex())
            .field("version", &self.version)
            .field("size", &self.size)
            .finish()
    }
}

impl LoadedPlugin {
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
    pub fn digest_hex(&self) -> String {
        hex(&self.digest)
    }
    pub fn version(&self) -> ContractVersion {
        self.version
    }
    /// Size of the uploaded component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// Checks the framing of uploaded bytes before anything compiles them.
pub fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            max: MAX_COMPONENT_BYTES,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    match bytes[4..8] {
        [0x01, 0x00, 0x00, 0x00] => Err(LoadError::CoreModule),
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        _ => Err(LoadError::Invalid(
            "unknown WebAssembly binary version".to_owned(),
        )),
    }
}

impl PluginEngine {
    /// Validates and compiles uploaded bytes (not available inside the Worker build).
    #[cfg(any(feature = "native", feature = "worker-compile"))]
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        check_header(bytes)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        self.prepare(component, digest(bytes), bytes.len())
    }

    /// Checks a compiled component's imports and exports and prepares its instantiation.
    pub(crate) fn prepare(
        &self,
        component: Component,
        digest: [u8; 32],
        size: usize,
    ) -> Result<LoadedPlugin, LoadError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        if !imports.is_empty() {
            return Err(LoadError::HasImports(imports));
        }
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let version = ContractVersion::SUPPORTED
            .into_iter()
            .find(|v| v.implemented_by(&exports));
        let Some(version) = version else {
            if let Some(other) = exports.iter().find(|e| e.starts_with("byok:plugin/check@")) {
                return Err(LoadError::UnsupportedContract {
                    found: other.clone(),
                });
            }
            return Err(LoadError::NotAPlugin { exports });
        };
        let linker = Linker::<HostState>::new(&self.engine);
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| LoadError::WrongShape(format!("{e:#}")))?;
        Ok(LoadedPlugin {
            digest,
            version,
            size,
            pre,
        })
    }
}
