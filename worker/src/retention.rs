//! The cron's retention sweep (issue #24): removes what has aged out of the audit log, the
//! status events, the daily usage and the daily re-check counts, in bounded batches
//! (`byok_core::retention` holds the periods and the rules; `store::PURGE_*` the statements).
//!
//! Fails closed: a retention setting that is not a number of days within bounds stops the
//! sweep (nothing is removed) and says which setting, rather than falling back to a default
//! that could delete history the operator meant to keep.

use byok_core::api::ProblemKind;
use byok_core::retention::{batches_per_database, Retention, BATCH};
use byok_core::retention::{RETAIN_AUDIT_DAYS, RETAIN_EVENTS_DAYS, RETAIN_USAGE_DAYS};

use crate::http::{problem, ApiError};
use crate::store;
use crate::App;

/// Rows removed by one run, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub audit: u64,
    pub events: u64,
    pub usage: u64,
    pub recheck_counts: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.audit + self.events + self.usage + self.recheck_counts
    }
}

/// The environment's retention periods, checked.
pub fn settings(app: &App) -> Result<Retention, ApiError> {
    let var = |name: &str| app.env.var(name).ok().map(|v| v.to_string());
    Retention::from_values(
        var(RETAIN_AUDIT_DAYS).as_deref(),
        var(RETAIN_EVENTS_DAYS).as_deref(),
        var(RETAIN_USAGE_DAYS).as_deref(),
    )
    .map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!("Retention is not configured: {e}. Nothing was removed."),
        )
    })
}

/// Removes, for each table and database, up to `BATCH` rows a statement and
/// `batches_per_database` statements (ten in all with one database) older than its period at
/// `now_ms`; a table stops as soon as a batch removes less than a full batch.
pub async fn sweep(app: &App, now_ms: u64) -> Result<Swept, ApiError> {
    let cut = settings(app)?.cutoffs(now_ms);
    let mut swept = Swept::default();
    for (statement, cutoff, count) in [
        (store::PURGE_AUDIT, &cut.audit_before, &mut swept.audit),
        (store::PURGE_EVENTS, &cut.events_before, &mut swept.events),
        (store::PURGE_USAGE, &cut.usage_before, &mut swept.usage),
        (
            store::PURGE_RECHECK_COUNTS,
            &cut.usage_before,
            &mut swept.recheck_counts,
        ),
    ] {
        let batches = batches_per_database(app.shards().len());
        for db in app.shards() {
            for _ in 0..batches {
                let removed = store::purge(db, statement, cutoff, BATCH).await?;
                *count += removed;
                if removed < u64::from(BATCH) {
                    break;
                }
            }
        }
    }
    Ok(swept)
}
