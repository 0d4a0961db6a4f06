//! Conversions between the WIT bindings and the SDK's plain types (wasm32 only). Used by
//! [`crate::export_plugin!`] (`wit/v1`) and by `byok-plugin-sdk-v2`'s `export_plugin_v2!`;
//! plugins never call this directly. Both contracts export v1's `check` interface, which each
//! crate's bindings generate anew, so the conversions are one macro instantiated per crate.

use std::cell::RefCell;

use crate::Hint;

/// What the last `done` said beyond the verdict: expiry, missing scopes, hint.
pub type Findings = (Option<u64>, Vec<String>, Option<Hint>);

thread_local! {
    /// The last `done`'s findings, for a v2 plugin's `details` to report.
    pub static LAST: RefCell<Option<Findings>> = const { RefCell::new(None) };
}

/// The conversions and entry points for the `check` interface of the bindings at the given
/// path (`crate::bindings::exports::byok::plugin::check`).
#[doc(hidden)]
#[macro_export]
macro_rules! __check_glue {
    ($($wit:tt)+) => {
        use std::cell::RefCell;

        use $crate::{
            Context, Credential, Method, Outcome, Plugin, Response, Step, TransportError, Verdict,
        };
        use $($wit)+ as wit;

        fn credential(c: wit::Credential) -> Credential {
            Credential {
                secret: c.secret,
                fields: c.fields,
            }
        }

        fn step(s: Step) -> wit::Step {
            match s {
                Step::Send(r) => wit::Step::Send(wit::Request {
                    method: match r.method {
                        Method::Get => wit::Method::Get,
                        Method::Head => wit::Method::Head,
                        Method::Post => wit::Method::Post,
                        Method::Put => wit::Method::Put,
                        Method::Patch => wit::Method::Patch,
                        Method::Delete => wit::Method::Delete,
                    },
                    url: r.url,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(name, value)| wit::Header { name, value })
                        .collect(),
                    body: r.body,
                }),
                Step::Done(o) => wit::Step::Done(outcome(o)),
            }
        }

        fn outcome(o: Outcome) -> wit::Outcome {
            $crate::glue::LAST.with(|l| {
                *l.borrow_mut() = Some((o.expires_at, o.missing_scopes, o.hint));
            });
            wit::Outcome {
                verdict: match o.verdict {
                    Verdict::Connected => wit::Verdict::Connected,
                    Verdict::InvalidCredential => wit::Verdict::InvalidCredential,
                    Verdict::InsufficientPermission => wit::Verdict::InsufficientPermission,
                    Verdict::RateLimited => wit::Verdict::RateLimited,
                    Verdict::ProviderUnavailable => wit::Verdict::ProviderUnavailable,
                    Verdict::UnexpectedResponse => wit::Verdict::UnexpectedResponse,
                },
                message: o.message,
                account_label: o.account_label,
                warnings: o.warnings,
            }
        }

        pub fn format_check<P: Plugin>(c: wit::Credential, config: String) -> Vec<String> {
            let config = $crate::serde_json::from_str(&config).unwrap_or_default();
            P::format_check(&credential(c), &config)
        }

        pub fn start<P: Plugin>(
            slot: &RefCell<Option<P>>,
            c: wit::Credential,
            ctx: wit::Context,
        ) -> wit::Step {
            let context = Context {
                config: $crate::serde_json::from_str(&ctx.config).unwrap_or_default(),
                now_unix_seconds: ctx.now_unix_seconds,
            };
            let (plugin, first) = P::start(credential(c), context);
            *slot.borrow_mut() = Some(plugin);
            step(first)
        }

        pub fn resume<P: Plugin>(
            slot: &RefCell<Option<P>>,
            response: Result<wit::Response, wit::TransportError>,
        ) -> wit::Step {
            let response = match response {
                Ok(r) => Ok(Response {
                    status: r.status,
                    headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                    body: r.body,
                }),
                Err(wit::TransportError::Timeout) => Err(TransportError::Timeout),
                Err(wit::TransportError::Connection(why)) => Err(TransportError::Connection(why)),
            };
            match slot.borrow_mut().as_mut() {
                Some(plugin) => step(plugin.resume(response)),
                None => wit::Step::Done(outcome(Outcome::unexpected(
                    "The host resumed a run that was never started.",
                ))),
            }
        }
    };
}

/// `wit/v1`.
pub mod v1 {
    crate::__check_glue!(crate::bindings::exports::byok::plugin::check);
}
