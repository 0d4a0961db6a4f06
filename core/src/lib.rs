//! The BYOK domain, with no I/O.
//!
//! Everything here is plain data and pure functions: storage, the clock, randomness and HTTP
//! reach this crate only as values or through small traits (`rand_core::CryptoRngCore` for
//! nonces). That is what lets the same logic run inside the Cloudflare Worker (wasm32), in the
//! `byok` CLI and in `cargo test`.
//!
//! - [`ids`]: validated identifiers (provider keys, tenant ids).
//! - [`auth`]: roles, which secret signs which role, and the settings tokens are checked against.
//! - [`catalog`]: provider catalog entries and their validation.
//! - [`conformance`]: the cases a connection test must pass before an entry may use it.
//! - [`credential`]: a tenant's credential checked against its catalog entry.
//! - [`status`]: the integration status state machine and test verdicts.
//! - [`mask`]: what a user may see of a stored key, and "unchanged" form values.
//! - [`keyring`]: AES-256-GCM envelope for stored credentials, with key rotation.
//! - [`resolve`]: which key answers `getAiConfig` (tenant, platform, or none).
//! - [`replace`]: a new key replaces a working one only after it passes.
//! - [`failure`]: why a key failed, from a closed set, in words with the next step.
//! - [`rotation`]: retiring a master key: the keyring report and re-sealing passes.
//! - [`expiry`]: notices before a key expires, and re-checks that tighten near it.
//! - [`quota`]: the hard daily cap on platform-key resolves per tenant.
//! - [`scope`]: which tenants and providers a (service) token may reach.
//! - [`api`]: request, response and problem+json types shared by the Worker and the CLI.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod conformance;
pub mod connect;
pub mod console;
pub mod credential;
pub mod events;
pub mod expiry;
pub mod failure;
pub mod idp;
pub mod ids;
pub mod json_error;
pub mod keyring;
pub mod limits;
pub mod mask;
pub mod quota;
pub mod recheck;
pub mod replace;
pub mod report;
pub mod resolve;
pub mod resolve_cache;
pub mod retention;
pub mod rotation;
pub mod scope;
pub mod shard;
pub mod status;
pub mod timestamp;
pub mod usage;
pub mod verifier;
pub mod webhook;

pub use secrecy::{ExposeSecret, SecretString};
