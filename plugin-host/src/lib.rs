//! Runs BYOK connection-test plugins: WebAssembly components of the `wit/v1` or `wit/v2`
//! contract that import nothing, driven step by step under limits. Every version exports v1's
//! `check`, so one loop drives them all; v2 adds `details`, asked once after `done`.
//!
//! One crate for both targets:
//! - natively, Wasmtime with Cranelift (pooling allocator, `InstancePre` reuse) or Pulley
//!   (the interpreter, to check plugins behave the same as in the Worker);
//! - on `wasm32-unknown-unknown`, inside the Worker, Wasmtime's runtime with Pulley.
//!
//! - [`engine`]: the configured Wasmtime engine and its fingerprint.
//! - [`load`]: validating uploaded bytes (component, contract version, no imports, size).
//! - [`artifact`]: precompiled artifacts bound to (digest, engine) with an integrity check.
//! - [`run`]: the step loop over an [`run::Egress`] adapter, with the allowlist and limits.
//! - [`limits`]: the limits a run is held to.
//! - [`conformance`]: the conformance suite run through a plugin, answered from its script.
//! - [`scrub`]: keeps credential values (and their encodings) out of everything a run reports.

pub mod artifact;
mod bindings;
pub mod conformance;
pub mod details;
#[cfg(feature = "reqwest")]
pub mod egress_reqwest;
pub mod engine;
pub mod limits;
pub mod load;
pub mod run;
pub mod scrub;
#[cfg(target_arch = "wasm32")]
mod wasm32;
mod wit_credential;

pub use details::{Details, Hint};
pub use engine::{Backend, PluginEngine};
pub use limits::Limits;
pub use load::{ContractVersion, LoadError, LoadedPlugin};
pub use run::{
    Egress, EgressError, HttpRequest, HttpResponse, PluginOutcome, RunError, RunInput, RunReport,
};
