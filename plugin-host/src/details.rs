//! The v2 contract's `details` export (`wit/v2`), called through our own types as
//! `wit_credential` does for `credential`: the component model checks the typed function
//! against the component's export when it is looked up, so these types are held to `wit/v2`
//! at every run. A v1 plugin has no such export and is never asked.

use wasmtime::component::{ComponentType, Instance, Lift};
use wasmtime::Store;

use crate::run::HostState;

/// The exported interface, by its versioned name.
pub const INTERFACE: &str = "byok:plugin/details@2.0.0";

/// `enum hint { billing, wrong-mode, expired }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ComponentType, Lift)]
#[component(enum)]
#[repr(u8)]
pub enum Hint {
    #[component(name = "billing")]
    Billing,
    #[component(name = "wrong-mode")]
    WrongMode,
    #[component(name = "expired")]
    Expired,
}

/// `record findings { expires-at: option<u64>, missing-scopes: list<string>, hint: option<hint> }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, ComponentType, Lift)]
#[component(record)]
pub struct Details {
    /// Seconds since the Unix epoch.
    #[component(name = "expires-at")]
    pub expires_at: Option<u64>,
    #[component(name = "missing-scopes")]
    pub missing_scopes: Vec<String>,
    #[component(name = "hint")]
    pub hint: Option<Hint>,
}

/// At most this many missing scopes, each at most [`MAX_SCOPE_BYTES`].
pub const MAX_SCOPES: usize = 32;
pub const MAX_SCOPE_BYTES: usize = 200;

/// `details() -> findings`, on the instance that just returned `done`.
pub(crate) fn call(store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<Details> {
    let interface = instance
        .get_export_index(&mut *store, None, INTERFACE)
        .ok_or_else(|| wasmtime::format_err!("no {INTERFACE} export"))?;
    let func = instance
        .get_export_index(&mut *store, Some(&interface), "details")
        .ok_or_else(|| wasmtime::format_err!("no {INTERFACE}#details export"))?;
    let f = instance.get_typed_func::<(), (Details,)>(&mut *store, func)?;
    let (details,) = f.call(&mut *store, ())?;
    Ok(details)
}
