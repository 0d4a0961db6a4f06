//! The contract's `credential` record as our own type, so that its `Debug` never shows the
//! secret (the generated bindings derive a `Debug` that prints every field), and the two
//! exports that take it (`start`, `format-check`) called through it.
//!
//! The component model checks a typed function's signature against the component's export
//! when it is looked up, so this type is held to `wit/v1` at every run.

use wasmtime::component::{ComponentType, Instance, Lower, TypedFunc};
use wasmtime::Store;

use crate::bindings::exports::byok::plugin::check as wit;
use crate::run::HostState;

/// The exported interface, by its versioned name.
const INTERFACE: &str = "byok:plugin/check@1.0.0";

/// `record credential { secret: string, fields: list<tuple<string, string>> }`.
#[derive(Clone, ComponentType, Lower)]
#[component(record)]
pub struct Credential {
    #[component(name = "secret")]
    pub secret: String,
    #[component(name = "fields")]
    pub fields: Vec<(String, String)>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &"[redacted]")
            .field(
                "fields",
                &self.fields.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn export<Params, Results>(
    store: &mut Store<HostState>,
    instance: &Instance,
    name: &str,
) -> wasmtime::Result<TypedFunc<Params, Results>>
where
    Params: wasmtime::component::ComponentNamedList + Lower,
    Results: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    let interface = instance
        .get_export_index(&mut *store, None, INTERFACE)
        .ok_or_else(|| wasmtime::format_err!("no {INTERFACE} export"))?;
    let func = instance
        .get_export_index(&mut *store, Some(&interface), name)
        .ok_or_else(|| wasmtime::format_err!("no {INTERFACE}#{name} export"))?;
    instance.get_typed_func(&mut *store, func)
}

/// `start(credential, context) -> step`.
pub fn start(
    store: &mut Store<HostState>,
    instance: &Instance,
    credential: &Credential,
    context: &wit::Context,
) -> wasmtime::Result<wit::Step> {
    let f = export::<(&Credential, &wit::Context), (wit::Step,)>(store, instance, "start")?;
    let (step,) = f.call(&mut *store, (credential, context))?;
    Ok(step)
}

/// `format-check(credential, config) -> list<string>`.
pub fn format_check(
    store: &mut Store<HostState>,
    instance: &Instance,
    credential: &Credential,
    config: &str,
) -> wasmtime::Result<Vec<String>> {
    let f = export::<(&Credential, &str), (Vec<String>,)>(store, instance, "format-check")?;
    let (warnings,) = f.call(&mut *store, (credential, config))?;
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret_and_field_values() {
        let key = "sk-FAKE-wit-0123456789";
        let credential = Credential {
            secret: key.into(),
            fields: vec![("account_sid".into(), key.into())],
        };
        let shown = format!("{credential:?}");
        assert!(!shown.contains(key), "{shown}");
        assert!(shown.contains("account_sid"), "{shown}");
    }
}
