//! The isolate's usage counter (`byok_core::usage` decides when to flush): resolves and
//! reports are counted in memory and written in one D1 batch per flush, inside `waitUntil`,
//! never on the request's path.

use std::cell::RefCell;
use std::time::Duration;

use byok_core::resolve::Source;
use byok_core::usage::{Then, Usage};
use worker::{Context, Delay, Env};

use crate::store;
use crate::App;

thread_local! {
    static USAGE: RefCell<Usage> = RefCell::new(Usage::new());
}

/// Counts a resolve answered with `source`'s key.
pub fn resolved(app: &App, ctx: &Context, tenant: &str, provider: &str, source: Source, now: u64) {
    let then = USAGE.with(|u| u.borrow_mut().resolved(tenant, provider, source, now));
    schedule(app, ctx, then);
}

/// Counts a usage report.
pub fn reported(
    app: &App,
    ctx: &Context,
    tenant: &str,
    provider: &str,
    source: Source,
    rejection: bool,
    now: u64,
) {
    let then = USAGE.with(|u| {
        u.borrow_mut()
            .reported(tenant, provider, source, rejection, now)
    });
    schedule(app, ctx, then);
}

fn schedule(app: &App, ctx: &Context, then: Then) {
    let env = app.env.clone();
    match then {
        Then::Nothing => {}
        Then::ArmFlush { delay_ms } => ctx.wait_until(async move {
            Delay::from(Duration::from_millis(delay_ms)).await;
            flush(env).await;
        }),
        Then::FlushNow => ctx.wait_until(flush(env)),
    }
}

/// Writes what is pending, one atomic batch at a time; on a storage error that batch and the
/// ones after it go back to wait for the next flush (the ones before it are stored, and are
/// never counted again).
async fn flush(env: Env) {
    let pending = USAGE.with(|u| u.borrow_mut().drain());
    if pending.is_empty() {
        return;
    }
    let found = crate::databases(&env).and_then(|(map, dbs)| {
        let next = crate::next_databases(&env, &map)?;
        Ok((map, dbs, next))
    });
    let (map, mut dbs, next) = match found {
        Ok(found) => found,
        Err(crate::http::ApiError(p)) => {
            worker::console_error!("usage flush failed, kept for the next one: {}", p.detail);
            USAGE.with(|u| u.borrow_mut().restore(pending));
            return;
        }
    };
    // While a move is under way, a moving tenant's usage is counted in the database it moves
    // to (after the ones it is read from): its copy adds the old counts to those, so nothing
    // counted during the move is lost when the list changes.
    let serving = dbs.len();
    let (moving, next_dbs) = match next {
        Some((m, next_dbs)) => (Some(m), next_dbs),
        None => (None, Vec::new()),
    };
    dbs.extend(next_dbs);
    let place = |tenant: &str| match moving.as_ref().and_then(|m| m.moving(tenant)) {
        Some(m) => serving + m.to,
        None => map.shard_of(tenant),
    };
    // Each database's rows in batches of its own; when one fails, it and everything after it
    // go back to wait (what was stored before it is never counted again).
    let mut batches = pending
        .split_by_shard(dbs.len(), place)
        .into_iter()
        .enumerate()
        .flat_map(|(i, part)| {
            part.into_batches(store::USAGE_BATCH)
                .into_iter()
                .map(move |b| (i, b))
        });
    while let Some((i, batch)) = batches.next() {
        if let Err(e) = store::add_usage(&dbs[i], &batch).await {
            worker::console_error!(
                "usage flush failed partway, the rest kept for the next one: {e}"
            );
            USAGE.with(|u| {
                let mut u = u.borrow_mut();
                u.restore(batch);
                for (_, rest) in batches.by_ref() {
                    u.restore(rest);
                }
            });
            return;
        }
    }
}
