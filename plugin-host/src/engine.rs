//! The Wasmtime engine plugins run on, and its fingerprint.

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine};

use crate::limits::Limits;

/// How plugin code is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Native code from Cranelift (not available inside the Worker).
    Cranelift,
    /// Wasmtime's Pulley interpreter, configured exactly as inside the Worker.
    Pulley,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the {0:?} backend is not available in this build")]
    Unavailable(Backend),
    #[error("could not configure the plugin engine: {0}")]
    Config(String),
}

/// A configured engine plus the limits runs are held to.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    backend: Backend,
    fingerprint: [u8; 32],
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("backend", &self.backend)
            .field("fingerprint", &self.fingerprint_hex())
            .finish()
    }
}

impl PluginEngine {
    pub fn new(backend: Backend, limits: Limits) -> Result<Self, EngineError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        match backend {
            Backend::Cranelift => configure_cranelift(&mut config, &limits)?,
            Backend::Pulley => configure_pulley(&mut config)?,
        }
        #[cfg(all(target_arch = "wasm32", feature = "worker-compile"))]
        crate::wasm32::quiet_cranelift_timing();
        let engine = Engine::new(&config).map_err(|e| EngineError::Config(e.to_string()))?;
        let fingerprint = fingerprint(&engine, backend);
        Ok(Self {
            engine,
            backend,
            fingerprint,
            limits,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Identifies everything that makes a precompiled artifact loadable: Wasmtime's version,
    /// target and settings. Artifacts are bound to it.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }
}

#[cfg(feature = "native")]
fn configure_cranelift(config: &mut Config, limits: &Limits) -> Result<(), EngineError> {
    use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64)
        .total_core_instances(256)
        .total_memories(256)
        .total_tables(256)
        .max_memory_size(limits.memory_bytes);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(())
}

#[cfg(not(feature = "native"))]
fn configure_cranelift(_: &mut Config, _: &Limits) -> Result<(), EngineError> {
    Err(EngineError::Unavailable(Backend::Cranelift))
}

/// The Worker's settings (see docs/toolchain.md): no signals, no virtual memory tricks.
fn configure_pulley(config: &mut Config) -> Result<(), EngineError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let target = if cfg!(target_pointer_width = "64") {
            "pulley64"
        } else {
            "pulley32"
        };
        config
            .target(target)
            .map_err(|e| EngineError::Config(e.to_string()))?;
    }
    config
        .signals_based_traps(false)
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(1 << 20)
        .memory_init_cow(false);
    Ok(())
}

/// The Wasmtime version pinned in Cargo.toml (`=48.0.8`).
const WASMTIME_VERSION: &str = "48.0.8";

/// SHA-256 over what decides whether an artifact loads: Wasmtime's version, the backend, the
/// target and the settings above. (Wasmtime also checks its own header when deserialising; this
/// fingerprint lets the host tell "recompile" from "tampered" before it gets that far.)
fn fingerprint(_engine: &Engine, backend: Backend) -> [u8; 32] {
    let description = format!(
        "byok-plugin-engine/1;wasmtime={WASMTIME_VERSION};backend={backend:?};arch={};ptr={};fuel=1;signals={}",
        std::env::consts::ARCH,
        usize::BITS,
        backend == Backend::Cranelift,
    );
    Sha256::digest(description.as_bytes()).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
