//! Expiry notices, from the Cron Trigger: keys whose 14-day, 1-day or "expired" notice is due
//! (`byok_core::expiry::notice_due`) get it once, as an event in their history and a webhook
//! (`integration.key_expiring`, `integration.key_expired`). The mark and the event are one
//! D1 batch, the event guarded by the mark it belongs to, so two runs never send one twice.
//!
//! The clock is the scheduled event's time (the run's own), which the local runtime lets a
//! test set (`/cdn-cgi/local/scheduled?time=<ms>` under `wrangler dev`).

use byok_core::events::expiry_notice;
use byok_core::expiry::{notice_due, Stage};
use byok_core::status::Status;

use crate::http::ApiError;
use crate::store;
use crate::util::rfc3339;
use crate::{events, App};

/// The most notices one run sends (the rest are due at the next run).
pub const PER_RUN: u32 = 500;

/// What one sweep did.
#[derive(Debug, Default)]
pub struct Sweep {
    pub read: usize,
    pub sent: usize,
}

pub async fn sweep(app: &App, now_ms: u64) -> Result<Sweep, ApiError> {
    // Each database's candidates (at most PER_RUN from each).
    let mut rows = Vec::new();
    for (shard, db) in app.shards().iter().enumerate() {
        // Not a copy left by a move in a database that no longer serves the tenant, nor a
        // tenant moving now (its notice would be written where the move has copied from).
        rows.extend(
            store::expiry_candidates(db, now_ms, PER_RUN)
                .await?
                .into_iter()
                .filter(|r| app.shard_of(&r.tenant) == shard && !app.is_moving(&r.tenant)),
        );
    }
    let mut done = Sweep {
        read: rows.len(),
        sent: 0,
    };
    for row in rows {
        let expires_at = row.expires_at.max(0.0) as u64;
        let sent = Stage::from_number(row.expiry_notified.clamp(0.0, 3.0) as u8);
        let Some(stage) = notice_due(expires_at, sent, now_ms) else {
            continue;
        };
        let Some(status) = Status::parse(&row.status) else {
            continue;
        };
        let event = events::prepare_change(
            app,
            Some(expiry_notice(
                &row.tenant,
                &row.provider,
                status,
                &rfc3339(expires_at),
                stage,
                &rfc3339(now_ms),
            )),
        );
        if store::mark_notice(
            app.db_for(&row.tenant),
            &row,
            stage.number(),
            event.as_ref().map(events::Prepared::row),
        )
        .await?
        {
            done.sent += 1;
            if let Some(p) = event {
                events::queue_delivery(app, p).await;
            }
        }
    }
    Ok(done)
}
