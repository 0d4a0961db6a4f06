//! Conversions between the WIT bindings and the SDK's plain types (wasm32 only). Used by
//! [`crate::export_plugin!`]; plugins never call this directly.

use std::cell::RefCell;

use crate::bindings::exports::byok::plugin::check as wit;
use crate::{
    Context, Credential, Method, Outcome, Plugin, Response, Step, TransportError, Verdict,
};

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
    let config = crate::serde_json::from_str(&config).unwrap_or_default();
    P::format_check(&credential(c), &config)
}

pub fn start<P: Plugin>(
    slot: &RefCell<Option<P>>,
    c: wit::Credential,
    ctx: wit::Context,
) -> wit::Step {
    let context = Context {
        config: crate::serde_json::from_str(&ctx.config).unwrap_or_default(),
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
