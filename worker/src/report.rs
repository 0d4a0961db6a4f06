//! `POST /v1/resolve/report`: an AI function says what the provider answered when it used a
//! resolved key. `byok_core::report` decides what that means; a claimed re-test runs after
//! the answer (in `waitUntil`) and moves the status as a Test would.

use byok_core::api::{ProblemKind, UsageReportAnswer, UsageReportRequest};
use byok_core::events::Job;
use byok_core::limits::Action;
use byok_core::recheck::RecheckMessage;
use byok_core::report::{claimable_before, decide, is_rejection, ReportAction, RETEST_DEDUP_MS};
use byok_core::resolve::{Source, TenantSide};
use worker::{Context, Request};

use crate::audit::{self, Scope};
use crate::auth::{Principal, Role};
use crate::catalog::entry_of;
use crate::events::JOBS_QUEUE;
use crate::http::{json, problem, read_json, ApiError, ApiResult};
use crate::integrations::status_of;
use crate::store;
use crate::util::Counted;
use crate::util::{now_millis, rfc3339};
use crate::App;

/// Who re-tests a key after a report, in the audit log.
pub const REPORT_ACTOR: &str = byok_core::api::AUTOMATED_ACTORS[1];

pub async fn report(req: &mut Request, app: &App, who: &Principal, ctx: &Context) -> ApiResult {
    who.require(&[Role::Service])?;
    let body: UsageReportRequest = read_json(req, 4 * 1024).await?;
    who.require_scope(&body.tenant, &body.provider)?;
    let report = body.report().map_err(ApiError)?;
    let (tenant, provider) = (body.tenant.as_str(), body.provider.as_str());
    crate::limits::check(app, Action::UsageReport, tenant, &who.sub).await?;
    let (row, provider_row) = futures_util::future::join(
        store::integration(app.db_for(tenant), tenant, provider),
        store::provider(app.home(), provider),
    )
    .await;
    let (row, provider_row) = (row?, provider_row?);
    let Some(provider_row) = provider_row else {
        return Err(problem(
            ProblemKind::UnknownProvider,
            format!("There is no provider '{provider}' in the catalog."),
        ));
    };
    let entry = entry_of(&provider_row)?;
    let extra = &entry.spec().rejection_statuses;
    let tenant_side = match &row {
        None => TenantSide::NotInstalled,
        Some(r) => TenantSide::installed(status_of(r)?),
    };
    let now = now_millis();
    let last_claim = row
        .as_ref()
        .and_then(|r| r.retest_claimed_at)
        .map(|ms| ms as u64);
    let mut action = decide(report, extra, tenant_side, last_claim, now);
    crate::usage::reported(
        app,
        ctx,
        tenant,
        provider,
        report.source,
        is_rejection(report.status, extra),
        now,
    );
    if action.retests() {
        if store::claim_retest(
            app.db_for(tenant),
            tenant,
            provider,
            now,
            claimable_before(now),
        )
        .await?
        {
            let outcome = format!("provider answered {}; re-test scheduled", report.status);
            // The row belongs to the tenant whose key is re-tested, not to the service
            // token's own tenant: it is that tenant's history.
            let on_behalf = Principal {
                tenant: body.tenant.clone(),
                ..who.clone()
            };
            audit::record(
                app,
                &on_behalf,
                Scope::Tenant,
                &body.provider,
                "usage-report",
                &outcome,
            )
            .await
            .counted()?;
            // The re-test runs on the queue, as a scheduled re-check does, for this row as
            // it is now (a save meanwhile makes it moot).
            if let Some(r) = &row {
                app.env
                    .queue(JOBS_QUEUE)?
                    .send(Job::Recheck(RecheckMessage {
                        tenant: r.tenant.clone(),
                        provider: r.provider.clone(),
                        updated_at: r.updated_at.clone(),
                        reported_status: Some(report.status),
                    }))
                    .await?;
            }
        } else {
            // Another report claimed it between our read and our claim.
            action = ReportAction::Deduplicated {
                retest_after_ms: now + RETEST_DEDUP_MS,
            };
        }
    }
    if action == ReportAction::PlatformKeyRecorded {
        let outcome = format!(
            "the platform key was rejected ({}) serving tenant '{tenant}'",
            report.status
        );
        audit::record(
            app,
            who,
            Scope::Platform,
            &body.provider,
            "usage-report",
            &outcome,
        )
        .await?;
    }
    let retest_after = match action {
        ReportAction::Deduplicated { retest_after_ms } => Some(rfc3339(retest_after_ms)),
        _ => None,
    };
    debug_assert!(report.source == Source::Tenant || !action.retests());
    Ok(json(
        202,
        &UsageReportAnswer {
            action: action.slug().to_owned(),
            detail: action.describe(),
            retest_after,
        },
    )?)
}
