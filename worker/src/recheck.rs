//! Scheduled re-checks. The Cron Trigger ([`run`]) reads the stored keys whose stored
//! `next_check_at` has come, asks `byok_core::recheck::triage` which are due under their entry
//! as it is now, queues those in batches and stores a new time for the others; the queue's
//! consumer ([`recheck`]) re-tests each one as a Test would, as the actor `scheduler`, unless
//! its row changed since it was picked. A usage report's re-test (`crate::report`) takes the
//! same path, as the actor `usage-report`.

use std::collections::HashMap;

use byok_core::catalog::CatalogEntry;
use byok_core::events::{Cause, Job, Reason};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::recheck::{
    cadence, stored_next_check, triage, Health, Recheck, RecheckMessage, Watch,
};
use byok_core::status::{Finding, Status};
use worker::Env;

use crate::auth::{Principal, Role};
use crate::catalog::{entry_of, stored_entry};
use crate::events::JOBS_QUEUE;
use crate::http::ApiError;
use crate::integrations::{open_stored, status_of, test_opened_and_record};
use crate::store::{self, IntegrationRow};
use crate::util::Counted;
use crate::util::{now_millis, rfc3339};

/// The audit actor of scheduled re-tests.
pub const ACTOR: &str = byok_core::api::AUTOMATED_ACTORS[0];
/// The most keys one cron run queues (the rest stay due for the next run).
pub const PER_RUN: usize = 5_000;
/// Messages per `sendBatch` (the Queues limit is 100).
const SEND_BATCH: usize = 100;

/// What one cron run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Rows read (their stored time had come).
    pub candidates: usize,
    pub queued: usize,
    /// Rows that were not due after all, given a new time.
    pub rescheduled: usize,
}

/// The cron run: reads the rows whose stored time has come, queues those due, and stores a
/// new time for the others (so they leave the selection: the next run does not read them).
pub async fn run(app: &crate::App) -> Result<RunSummary, ApiError> {
    let now = now_millis();
    // Rows due but past PER_RUN stay due; reading a few more leaves room for rows to
    // reschedule without queueing fewer than PER_RUN. Each database gives its share (tenants
    // spread evenly over them), read side by side.
    let share = (PER_RUN + PER_RUN / 4).div_ceil(app.shards().len());
    let (providers, per_shard) = futures_util::future::join(
        store::active_providers(app.home()),
        futures_util::future::join_all(
            app.shards()
                .iter()
                .map(|db| store::recheck_due(db, now, share)),
        ),
    )
    .await;
    // Entries without a test plugin have no cadence (and retired entries are not listed).
    let cadences: HashMap<String, Recheck> = providers?
        .iter()
        .filter_map(|p| {
            let e = entry_of(p).ok()?;
            let c = cadence(e.spec().recheck, e.spec().test_plugin.is_some())?;
            Some((p.key.clone(), c))
        })
        .collect();
    let mut rows = Vec::new();
    for (shard, read) in per_shard.into_iter().enumerate() {
        rows.extend(read?.into_iter().map(|r| (shard, r)));
    }
    let candidates = rows.len();
    // Rows a database keeps about a tenant another one serves (copied by a move, not pruned
    // yet) are parked; a tenant moving now waits for the move (nothing about it is written
    // but this time, and its copy takes the row as it is).
    let (rows, held): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(shard, r)| app.shard_of(&r.tenant) == *shard && !app.is_moving(&r.tenant));
    let held: Vec<_> = held
        .iter()
        .map(|(shard, r)| {
            let wait = if app.shard_of(&r.tenant) == *shard {
                MOVE_WAIT_MS
            } else {
                byok_core::recheck::PARKED_MS
            };
            ((*shard, r), Some(now + wait))
        })
        .collect();
    let t = triage(
        rows.iter()
            .map(|(shard, r)| ((*shard, r), watch(r), cadences.get(&r.provider).copied())),
        now,
        PER_RUN,
    );
    let queue = app.env.queue(JOBS_QUEUE)?;
    for chunk in t.due.chunks(SEND_BATCH) {
        queue
            .send_batch(chunk.iter().map(|(_, r)| Job::Recheck(message(r))))
            .await
            .counted()?;
    }
    let mut rescheduled = 0;
    for (shard, db) in app.shards().iter().enumerate() {
        let mine: Vec<_> = t
            .reschedule
            .iter()
            .chain(&held)
            .filter(|((s, _), _)| *s == shard)
            .map(|((_, r), at)| (*r, *at))
            .collect();
        for chunk in mine.chunks(RESCHEDULE_BATCH) {
            rescheduled += store::reschedule(db, chunk).await? as usize;
        }
    }
    Ok(RunSummary {
        candidates,
        queued: t.due.len(),
        rescheduled,
    })
}

/// How long a moving tenant's due row waits before it is looked at again.
const MOVE_WAIT_MS: u64 = 10 * 60 * 1000;

/// Rows per reschedule statement (one JSON parameter each, well under D1's size limits).
const RESCHEDULE_BATCH: usize = 500;

/// The `next_check_at` a row stores after a test or a check that could not run, under its
/// entry (`None`: the entry is gone).
pub(crate) fn next_check_at(
    entry: Option<&CatalogEntry>,
    status: Status,
    health: Health,
    expires_at: Option<f64>,
    now_ms: u64,
) -> Option<u64> {
    let cadence = entry.and_then(|e| cadence(e.spec().recheck, e.spec().test_plugin.is_some()));
    let w = Watch {
        status,
        checked_at_ms: Some(now_ms),
        changed_at_ms: now_ms,
        health,
        expires_at_ms: expires_at.map(|t| t.max(0.0) as u64),
    };
    stored_next_check(&w, cadence.as_ref(), now_ms)
}

/// The queue message that re-checks `r` (the cron's, and an admin's "re-check now").
pub(crate) fn message(r: &IntegrationRow) -> RecheckMessage {
    RecheckMessage {
        tenant: r.tenant.clone(),
        provider: r.provider.clone(),
        updated_at: r.updated_at.clone(),
        reported_status: None,
    }
}

fn watch(r: &IntegrationRow) -> Option<Watch> {
    Some(Watch {
        status: status_of(r).ok()?,
        checked_at_ms: r.last_checked_at.map(|t| t as u64),
        // A row stored before re-checks existed has never been checked: due at once.
        changed_at_ms: 0,
        health: Health {
            failing_since_ms: None,
            transient_failures: r.transient_failures.unwrap_or(0.0) as u32,
        },
        expires_at_ms: r.expires_at.map(|t| t.max(0.0) as u64),
    })
}

/// One queued re-check. A row uninstalled, emptied or changed since it was picked is skipped:
/// whatever changed it has tested it, or will.
pub async fn recheck(env: &Env, m: &RecheckMessage) -> Result<(), ApiError> {
    let app = crate::app(env)?;
    let (Ok(tenant), Ok(provider)) = (TenantId::parse(&m.tenant), ProviderKey::parse(&m.provider))
    else {
        return Ok(());
    };
    // A tenant changing database is not tested (that writes): its row stays due, and the
    // cron queues it again once the move is done.
    if app.is_moving(tenant.as_str()) {
        return Ok(());
    }
    let Some(mut row) = store::integration(
        app.db_for(tenant.as_str()),
        tenant.as_str(),
        provider.as_str(),
    )
    .await?
    else {
        return Ok(());
    };
    if row.updated_at != m.updated_at || row.secret.is_none() {
        return Ok(());
    }
    let (actor, reason) = match m.reported_status {
        None => (ACTOR, Reason::by(Cause::Recheck)),
        Some(status) => (
            crate::report::REPORT_ACTOR,
            Reason {
                reported_status: Some(status),
                ..Reason::by(Cause::UsageReport)
            },
        ),
    };
    let who = Principal {
        sub: actor.to_owned(),
        tenant: tenant.clone(),
        role: Role::Service,
        via_cookie: false,
        scope: byok_core::scope::Scope::unlimited(),
        session: None,
    };
    // Whether a test can run at all: the entry is still in the catalog, the key opens.
    let entry = match stored_entry(&app, &provider).await {
        Ok((_, entry)) => entry,
        Err(ApiError(p)) => return not_checked(&app, &who, None, &provider, &row, &p.detail).await,
    };
    let opened = match open_stored(&app, &tenant, &entry, &row) {
        Ok(opened) => opened,
        Err(ApiError(p)) => {
            return not_checked(&app, &who, Some(&entry), &provider, &row, &p.detail).await
        }
    };
    let tested = test_opened_and_record(&app, &who, &entry, &mut row, opened, false, reason).await;
    // Whether or not the result was stored: a resolve read meanwhile may be stale.
    crate::resolve::forget(&tenant, &provider);
    tested
}

/// A re-check that could not run (the entry is gone, the key does not open): the row's
/// schedule still advances, backing off as after an inconclusive test, and the audit log says
/// why. Without this the row stayed the most overdue, was queued again by every cron run, and
/// enough such rows would fill every run (review M2). The message is then done.
async fn not_checked(
    app: &crate::App,
    who: &Principal,
    entry: Option<&CatalogEntry>,
    provider: &ProviderKey,
    row: &IntegrationRow,
    why: &str,
) -> Result<(), ApiError> {
    let now = now_millis();
    let health = crate::integrations::health_of(row).after(Finding::Inconclusive, now);
    let failing_since = row.failing_since.clone().unwrap_or_else(|| rfc3339(now));
    let audit = crate::audit::entry(
        who,
        crate::audit::Scope::Tenant,
        provider,
        "recheck",
        &format!("not checked: {why}"),
    );
    worker::console_error!(
        "re-check of {}/{} could not run: {why}",
        row.tenant,
        row.provider
    );
    let next = status_of(row)
        .ok()
        .and_then(|status| next_check_at(entry, status, health, row.expires_at, now));
    store::record_not_checked(
        app.db_for(&row.tenant),
        row,
        now,
        health.transient_failures,
        &failing_since,
        next,
        &audit,
    )
    .await?;
    Ok(())
}
