//! The `wit/v2` exports for plugins written with [`byok_plugin_sdk`]: v1's `check`, unchanged,
//! plus `details`, which reports what the last outcome said beyond its verdict
//! ([`Outcome::expires_at`], [`Outcome::missing_scopes`], [`Outcome::hint`]).
//!
//! A crate of its own because both contracts export the same `check` interface: one crate's
//! generated bindings cannot hold it twice. Everything of the SDK is re-exported, so a v2
//! plugin depends on this crate alone and ends with [`export_plugin_v2!`]:
//!
//! ```ignore
//! use byok_plugin_sdk_v2::{export_plugin_v2, Hint, Outcome, Plugin /* ... */};
//! // ... Outcome::insufficient("...").hint(Hint::Billing) ...
//! export_plugin_v2!(Example);
//! ```

pub use byok_plugin_sdk::*;

/// The `wit/v2` bindings. With two versions of `byok:plugin` in one world, wit-bindgen puts the
/// version in the module names: `byok::plugin1_0_0::check`, `byok::plugin2_0_0::details`.
#[cfg(target_arch = "wasm32")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v2",
        world: "plugin-v2",
        pub_export_macro: true,
        default_bindings_module: "byok_plugin_sdk_v2::bindings",
    });
}

/// Conversions for this crate's `check` bindings, and `details` (wasm32 only).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod glue {
    byok_plugin_sdk::__check_glue!(crate::bindings::exports::byok::plugin1_0_0::check);

    use crate::bindings::exports::byok::plugin2_0_0::details as wit_details;
    use byok_plugin_sdk::Hint;

    /// What the last `done` of this instance said beyond the verdict.
    pub fn details() -> wit_details::Findings {
        let (expires_at, missing_scopes, hint) = byok_plugin_sdk::glue::LAST
            .with(|l| l.borrow_mut().take())
            .unwrap_or_default();
        wit_details::Findings {
            expires_at,
            missing_scopes,
            hint: hint.map(|h| match h {
                Hint::Billing => wit_details::Hint::Billing,
                Hint::WrongMode => wit_details::Hint::WrongMode,
                Hint::Expired => wit_details::Hint::Expired,
            }),
        }
    }
}

/// Wires a [`Plugin`] to the `wit/v2` exports: v1's `check`, plus `details`, which reports
/// the last outcome's expiry, missing scopes and hint (on wasm32; a no-op elsewhere).
#[macro_export]
macro_rules! export_plugin_v2 {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __byok_plugin_export_v2 {
            use super::*;
            use $crate::bindings::exports::byok::plugin1_0_0::check as wit;
            use $crate::bindings::exports::byok::plugin2_0_0::details as wit_details;

            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$plugin>> =
                    const { ::std::cell::RefCell::new(None) };
            }

            struct Export;

            impl wit::Guest for Export {
                fn format_check(credential: wit::Credential, config: String) -> Vec<String> {
                    $crate::glue::format_check::<$plugin>(credential, config)
                }
                fn start(credential: wit::Credential, context: wit::Context) -> wit::Step {
                    STATE.with(|slot| $crate::glue::start::<$plugin>(slot, credential, context))
                }
                fn resume(response: Result<wit::Response, wit::TransportError>) -> wit::Step {
                    STATE.with(|slot| $crate::glue::resume::<$plugin>(slot, response))
                }
            }

            impl wit_details::Guest for Export {
                fn details() -> wit_details::Findings {
                    $crate::glue::details()
                }
            }

            $crate::bindings::export!(Export with_types_in $crate::bindings);
        }
    };
}
