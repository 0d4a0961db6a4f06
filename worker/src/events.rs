//! Status events (`byok_core::events`): stored for the tenant's history, and, when the
//! platform set `WEBHOOK_URL`, queued for delivery as Standard Webhooks signed with
//! `WEBHOOK_SECRET`. Delivery runs on the queue ([`deliver`]): a failed attempt is queued again
//! after the core's backoff with the same id and body, and after the last attempt the event is
//! marked `dead` (the dead letter, kept in D1 beside the event).

use byok_core::api::{
    Delivery, EventList, EventView, ProblemKind, WebhookEventList, WebhookEventView,
};
use byok_core::events::{webhook_url, DeliveryMessage, Envelope, Job, StatusChanged};
use byok_core::webhook::{self, Next, RetryPolicy, WebhookSecret};
use byok_plugin_host::{Egress, HttpRequest};
use worker::{Env, MessageBuilder};

use crate::egress::FetchEgress;
use crate::http::{problem, ApiError};
use crate::store;
use crate::util::now_millis;
use crate::util::Counted;
use crate::App;

/// The queue binding for re-checks and deliveries.
pub const JOBS_QUEUE: &str = "JOBS";
const DELIVERY_TIMEOUT_MS: u64 = 10_000;
/// A receiver's answer is read only this far (it is not used beyond its status).
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Where webhooks go and how they are signed; `None` when the platform set no `WEBHOOK_URL`.
struct Target {
    url: String,
    secret: WebhookSecret,
}

fn target(env: &Env, dev: bool) -> Result<Option<Target>, ApiError> {
    let Some(url) = env.var("WEBHOOK_URL").ok().map(|v| v.to_string()) else {
        return Ok(None);
    };
    if url.trim().is_empty() {
        return Ok(None);
    }
    let misconfigured = |why: String| {
        problem(
            ProblemKind::Misconfigured,
            format!("Webhooks are not configured: {why}."),
        )
    };
    let url = webhook_url(&url, dev).map_err(|e| misconfigured(e.to_string()))?;
    let secret = env
        .secret("WEBHOOK_SECRET")
        .map_err(|_| misconfigured("WEBHOOK_SECRET is missing".into()))?
        .to_string();
    let secret = WebhookSecret::parse(&secret).map_err(|e| misconfigured(e.to_string()))?;
    Ok(Some(Target {
        url: url.into(),
        secret,
    }))
}

/// The retry policy, with the first wait from `WEBHOOK_RETRY_BASE_SECONDS` and the number of
/// attempts from `WEBHOOK_MAX_ATTEMPTS` when set (the local e2e tests wait seconds, not hours).
fn policy(env: &Env) -> RetryPolicy {
    let positive = |name: &str| {
        env.var(name)
            .ok()
            .and_then(|v| v.to_string().parse::<u32>().ok())
            .filter(|n| *n > 0)
    };
    let mut p = RetryPolicy::default();
    if let Some(max) = positive("WEBHOOK_MAX_ATTEMPTS") {
        p.max_attempts = max;
    }
    if let Some(base) = positive("WEBHOOK_RETRY_BASE_SECONDS") {
        p.base_s = base;
    }
    p
}

/// A fresh event id (`msg_` and 128 random bits in hex): the `webhook-id` of every attempt.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut crate::util::JsRng, &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// Records a status change that has just been stored, and queues its webhook. A failure here
/// is logged, never returned: the change itself is already stored and must stand.
pub async fn emit(app: &App, event: Option<StatusChanged>) {
    let Some(event) = event else { return };
    if let Err(ApiError(p)) = try_emit(app, event).await {
        worker::console_error!("status event not recorded: {}", p.detail);
    }
}

/// An event about to be stored: its id, body and the delivery state it starts in.
pub struct Prepared {
    pub id: String,
    pub event: StatusChanged,
    /// `pending` when a webhook will be queued, `none` when no `WEBHOOK_URL` is set.
    pub delivery: &'static str,
    body: String,
}

/// Gives an event its id and webhook body, before it is stored (possibly in the same D1
/// batch as the status change it records).
pub fn prepare(app: &App, event: StatusChanged) -> Result<Prepared, ApiError> {
    let target = match target(&app.env, app.dev_mode) {
        Ok(t) => t,
        Err(ApiError(p)) => {
            worker::console_error!("{}", p.detail);
            None
        }
    };
    let body = serde_json::to_string(&Envelope::of(event.clone()))
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(Prepared {
        id: new_id(),
        event,
        delivery: if target.is_some() { "pending" } else { "none" },
        body,
    })
}

/// [`prepare`] for a change that may not move the status, logging (not returning) a failure:
/// the change itself must still be stored.
pub fn prepare_change(app: &App, event: Option<StatusChanged>) -> Option<Prepared> {
    match prepare(app, event?) {
        Ok(p) => Some(p),
        Err(ApiError(p)) => {
            worker::console_error!("status event not prepared: {}", p.detail);
            None
        }
    }
}

impl Prepared {
    /// What the row insert takes: id, event and delivery state.
    pub fn row(&self) -> (&str, &StatusChanged, &str) {
        (&self.id, &self.event, self.delivery)
    }
}

/// Queues the first delivery of a stored event (when there is a webhook to deliver to).
/// A failure is logged: the event stays `pending` in D1.
pub async fn queue_delivery(app: &App, p: Prepared) {
    if p.delivery != "pending" {
        return;
    }
    if let Err(e) = queue_first_attempt(app, p.id, p.body, 0, p.event.tenant).await {
        worker::console_error!("webhook not queued: {e}");
    }
}

/// Queues attempt 1 of a delivery series.
async fn queue_first_attempt(
    app: &App,
    id: String,
    body: String,
    series: u32,
    tenant: String,
) -> worker::Result<()> {
    app.env
        .queue(JOBS_QUEUE)?
        .send(Job::Deliver(DeliveryMessage {
            id,
            body,
            attempt: 1,
            series,
            tenant: Some(tenant),
        }))
        .await
        .counted()
}

async fn try_emit(app: &App, event: StatusChanged) -> Result<(), ApiError> {
    let p = prepare(app, event)?;
    store::insert_event(app.db_for(&p.event.tenant), &p.id, &p.event, p.delivery).await?;
    queue_delivery(app, p).await;
    Ok(())
}

/// One delivery attempt (a queue job): signed at the time of the attempt, posted, and then
/// recorded as delivered, queued again after the backoff, or dead. An attempt left from a
/// series a redelivery replaced, or for an event no longer pending, sends and records nothing
/// (`core::events::attempt_is_current`).
pub async fn deliver(env: &Env, m: DeliveryMessage) -> Result<(), ApiError> {
    let app = crate::app(env)?;
    // A delivery about a tenant changing database waits (retried later): recording its
    // attempt would write where the move has copied from.
    if let Some(tenant) = &m.tenant {
        app.check_writable(tenant)?;
    }
    let db = match &m.tenant {
        Some(tenant) => app.db_for(tenant),
        None => app.home(),
    };
    let Some(state) = store::delivery_state(db, &m.id).await? else {
        return Ok(());
    };
    let stored = Delivery::parse(&state.delivery).ok_or_else(invalid)?;
    if !byok_core::events::attempt_is_current(stored, state.series.max(0.0) as u32, m.series) {
        return Ok(());
    }
    let Some(target) = target(env, app.dev_mode)? else {
        store::set_delivery(db, &m.id, m.series, "none", m.attempt, now_millis()).await?;
        return Ok(());
    };
    let headers = webhook::sign(
        &target.secret,
        &m.id,
        now_millis() / 1000,
        m.body.as_bytes(),
    );
    let mut request_headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    request_headers.push(("content-type".into(), "application/json".into()));
    request_headers.push(("user-agent".into(), "byok-webhooks/1".into()));
    let answer = FetchEgress
        .send(
            HttpRequest {
                method: "POST",
                url: target.url.clone(),
                headers: request_headers,
                body: Some(m.body.clone().into_bytes()),
            },
            DELIVERY_TIMEOUT_MS,
            MAX_ANSWER_BYTES,
        )
        .await;
    let status = answer.as_ref().ok().map(|a| a.status);
    let now = now_millis();
    match policy(env).after(status, m.attempt) {
        Next::Delivered => {
            store::set_delivery(db, &m.id, m.series, "delivered", m.attempt, now).await?;
        }
        Next::RetryAfter { seconds } => {
            if !store::set_delivery(db, &m.id, m.series, "pending", m.attempt, now).await? {
                // A redelivery replaced this series while the attempt was out.
                return Ok(());
            }
            let again = Job::Deliver(DeliveryMessage {
                attempt: m.attempt + 1,
                ..m
            });
            env.queue(JOBS_QUEUE)?
                .send(MessageBuilder::new(again).delay_seconds(seconds).build())
                .await
                .counted()?;
        }
        Next::DeadLetter => {
            worker::console_error!(
                "webhook {} dead after {} attempts (last answer: {})",
                m.id,
                m.attempt,
                status.map_or("none".to_owned(), |s| s.to_string())
            );
            store::set_delivery(db, &m.id, m.series, "dead", m.attempt, now).await?;
        }
    }
    Ok(())
}

/// The most stalled events one cron run dead-letters.
const STALL_PER_RUN: u32 = 500;
/// Events one page of `GET /v1/admin/webhooks` holds.
const EVENTS_PAGE: i64 = 100;

/// Part of the cron run: `pending` events whose attempts stopped (a lost queue message, a
/// consumer that kept failing) become dead letters, which an admin can see and redeliver,
/// instead of staying `pending`, and so unredeliverable, for ever. How many.
pub async fn stall_sweep(app: &App) -> Result<u64, ApiError> {
    // During a move a delivery of a moving tenant waits (`deliver`): not a stall.
    if app.shard_move().is_some() {
        return Ok(0);
    }
    let now = now_millis();
    let before = now.saturating_sub(byok_core::events::stall_after_ms(&policy(&app.env)));
    let mut stalled = 0;
    for db in app.shards() {
        stalled += store::stall_deliveries(db, before, STALL_PER_RUN).await?;
    }
    if stalled > 0 {
        worker::console_error!(
            "{stalled} webhook event(s) made no progress since before {}: dead-lettered (GET /v1/admin/webhooks, then redeliver)",
            crate::util::rfc3339(before)
        );
    }
    Ok(stalled)
}

/// `GET /v1/integrations/{key}/events`: the integration's status changes, newest first (any
/// member of the tenant).
pub async fn list(app: &App, who: &crate::auth::Principal, key: &str) -> crate::http::ApiResult {
    who.require_tenant_user()?;
    let key = crate::catalog::key_from_path(key)?;
    let (row, events) = futures_util::future::join(
        store::integration(
            app.db_for(who.tenant.as_str()),
            who.tenant.as_str(),
            key.as_str(),
        ),
        store::events_for(
            app.db_for(who.tenant.as_str()),
            who.tenant.as_str(),
            key.as_str(),
            50,
        ),
    )
    .await;
    if row?.is_none() {
        return Err(problem(
            ProblemKind::NotFound,
            format!("'{key}' is not installed for this account."),
        ));
    }
    let events = events?
        .into_iter()
        .map(|e| {
            let reason: byok_core::events::Reason =
                serde_json::from_str(&e.reason).map_err(|_| invalid())?;
            Ok(EventView {
                from: stored_status(&e.from_status)?,
                to: stored_status(&e.to_status)?,
                failure: reason.failure.map(byok_core::failure::Failure::view),
                reason,
                id: e.id,
                at: e.at,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(crate::http::json(200, &EventList { events })?)
}

/// `GET /v1/admin/webhooks?delivery=dead|pending|delivered|none` (platform-admin; default
/// `dead`, the dead letters): events by the state of their webhook, newest first.
pub async fn by_delivery(
    req: &worker::Request,
    app: &App,
    who: &crate::auth::Principal,
) -> crate::http::ApiResult {
    who.require(&[crate::auth::Role::PlatformAdmin])?;
    let url = req.url()?;
    let delivery = match url.query_pairs().find(|(k, _)| k == "delivery") {
        None => Delivery::Dead,
        Some((_, v)) => Delivery::parse(&v).ok_or_else(|| {
            problem(
                ProblemKind::ValidationFailed,
                "delivery must be dead, pending, delivered or none.",
            )
        })?,
    };
    // Each database's newest, then the newest of those (`at` sorts as time, text order).
    let mut rows = Vec::new();
    for db in app.shards() {
        rows.extend(store::events_by_delivery(db, delivery.as_str(), EVENTS_PAGE).await?);
    }
    rows.sort_by(|a, b| b.at.cmp(&a.at));
    rows.truncate(EVENTS_PAGE as usize);
    let events = rows
        .into_iter()
        .map(|r| {
            let attempts = r.attempts.max(0.0) as u32;
            let id = r.id.clone();
            Ok(WebhookEventView {
                event: stored_event(r)?,
                id,
                delivery,
                attempts,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(crate::http::json(
        200,
        &WebhookEventList { delivery, events },
    )?)
}

/// `POST /v1/admin/webhooks/{id}/redeliver` (platform-admin): sends an event's webhook again,
/// as a new series of attempts with the same id and body (`core::events::may_redeliver` says
/// which states allow it). Answers 202 with the event, now `pending`.
pub async fn redeliver(
    app: &App,
    who: &crate::auth::Principal,
    id: &str,
) -> crate::http::ApiResult {
    who.require(&[crate::auth::Role::PlatformAdmin])?;
    let not_found = || {
        problem(
            ProblemKind::NotFound,
            "There is no status event with this id.",
        )
    };
    if !byok_core::events::is_event_id(id) {
        return Err(not_found());
    }
    if target(&app.env, app.dev_mode)?.is_none() {
        return Err(problem(
            ProblemKind::Conflict,
            "Webhooks are off: set WEBHOOK_URL (and WEBHOOK_SECRET) to send them.",
        ));
    }
    // Event ids are random: at most one database holds this one.
    let mut found = None;
    for db in app.shards() {
        if let Some(row) = store::event_by_id(db, id).await? {
            found = Some((db, row));
            break;
        }
    }
    let (db, row) = found.ok_or_else(not_found)?;
    let state = Delivery::parse(&row.delivery).ok_or_else(invalid)?;
    byok_core::events::may_redeliver(state).map_err(|why| {
        problem(
            ProblemKind::Conflict,
            format!("The webhook cannot be sent again now: {why}."),
        )
    })?;
    let (id, attempts) = (row.id.clone(), row.attempts.max(0.0) as u32);
    let event = stored_event(row)?;
    let provider = byok_core::ids::ProviderKey::parse(&event.provider).map_err(|_| invalid())?;
    let Some(series) = store::restart_delivery(db, &id, state.as_str(), now_millis()).await? else {
        return Err(problem(
            ProblemKind::Conflict,
            "The webhook cannot be sent again now: another redelivery has just started.",
        ));
    };
    let body = serde_json::to_string(&Envelope::of(event.clone()))
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    if let Err(e) = queue_first_attempt(app, id.clone(), body, series, event.tenant.clone()).await {
        // Put the state back, so that the event is not left `pending` with nothing queued.
        store::set_delivery(db, &id, series, state.as_str(), attempts, now_millis()).await?;
        worker::console_error!("redelivery not queued: {e}");
        return Err(problem(
            ProblemKind::Internal,
            "The redelivery could not be queued; try again.",
        ));
    }
    crate::audit::record(
        app,
        who,
        crate::audit::Scope::Platform,
        &provider,
        "redeliver-webhook",
        state.as_str(),
    )
    .await?;
    Ok(crate::http::json(
        202,
        &WebhookEventView {
            event,
            id,
            delivery: Delivery::Pending,
            attempts: 0,
        },
    )?)
}

fn invalid() -> ApiError {
    problem(ProblemKind::Internal, "A stored event is invalid.")
}

/// A status as an event row stores it.
fn stored_status(s: &str) -> Result<byok_core::status::Status, ApiError> {
    byok_core::status::Status::parse(s).ok_or_else(invalid)
}

/// The event a delivery row stores (what its webhook's body carries).
fn stored_event(r: store::DeliveryRow) -> Result<StatusChanged, ApiError> {
    let reason: byok_core::events::Reason =
        serde_json::from_str(&r.reason).map_err(|_| invalid())?;
    Ok(StatusChanged {
        tenant: r.tenant,
        provider: r.provider,
        from: stored_status(&r.from_status)?,
        to: stored_status(&r.to_status)?,
        failure: reason.failure.map(byok_core::failure::Failure::view),
        reason,
        at: r.at,
    })
}
