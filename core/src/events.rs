//! Status events: every change of an integration's status, whatever caused it, becomes one
//! `integration.status_changed` event, stored for the tenant's history and delivered to the
//! platform as a signed webhook ([`crate::webhook`]).
//!
//! [`status_changed`] decides whether there is an event at all (only when the status moved)
//! and what it says; the Worker gives it an id, stores it and queues its delivery.

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureView};
use crate::status::{Status, Verdict};

/// The event type, as webhooks name it.
pub const STATUS_CHANGED: &str = "integration.status_changed";
/// A new key replaced the serving one: it passed its test, or the user chose it after a test
/// that could not conclude. Same data as [`STATUS_CHANGED`]; `from` and `to` may be equal.
pub const KEY_REPLACED: &str = "integration.key_replaced";
/// The key expires within 14 days, or within a day (`reason.expiry.stage`). Same data as
/// [`STATUS_CHANGED`]; `from` and `to` are the current status.
pub const KEY_EXPIRING: &str = "integration.key_expiring";
/// The key's expiry has passed. A re-check follows at once and moves the status if the
/// provider refuses it.
pub const KEY_EXPIRED: &str = "integration.key_expired";

/// What moved the status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A key was stored (install with a key, or Save).
    KeySaved,
    /// The key was removed (uninstall removes the row and makes no event).
    KeyRemoved,
    /// A member pressed Test, or a save tested its new key.
    Test,
    /// The scheduled re-check.
    Recheck,
    /// A re-test after an AI function reported the key failing in traffic.
    UsageReport,
    /// A new key replaced the serving one (`by` says who).
    KeyReplaced,
    /// A notice about the key's expiry (`expiry` says which).
    Expiry,
}

/// Why the status moved: the cause, and what the test concluded when there was one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub cause: Cause,
    /// The connection test's verdict (absent for key changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The provider's HTTP status an AI function reported (usage reports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_status: Option<u16>,
    /// Why the key failed, when it did (the words are [`Failure::words`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Who did it, for changes people make (a replaced key): the token's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// For an expiry notice: when the key expires and which notice this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryNotice>,
}

/// An expiry notice's details.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryNotice {
    /// RFC 3339.
    pub expires_at: String,
    pub stage: crate::expiry::Stage,
}

impl Reason {
    pub fn key_saved() -> Self {
        Self::by(Cause::KeySaved)
    }

    /// A test asked for by `cause`; its verdict is added when it concludes.
    pub fn by(cause: Cause) -> Self {
        Self {
            cause,
            verdict: None,
            reported_status: None,
            failure: None,
            by: None,
            expiry: None,
        }
    }

    /// A key replaced by `who`.
    pub fn replaced(who: &str) -> Self {
        Self {
            by: Some(who.to_owned()),
            ..Self::by(Cause::KeyReplaced)
        }
    }

    pub fn tested(cause: Cause, verdict: Verdict) -> Self {
        Self {
            verdict: Some(verdict),
            ..Self::by(cause)
        }
    }
}

/// `integration.status_changed`: the data of the webhook and of a history entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub tenant: String,
    pub provider: String,
    pub from: Status,
    pub to: Status,
    pub reason: Reason,
    /// RFC 3339.
    pub at: String,
    /// Why the key failed, in words with the next step (from `reason.failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
}

impl StatusChanged {
    /// The webhook type this event is delivered as.
    pub fn kind(&self) -> &'static str {
        match (self.reason.cause, &self.reason.expiry) {
            (Cause::KeyReplaced, _) => KEY_REPLACED,
            (Cause::Expiry, Some(e)) if e.stage == crate::expiry::Stage::Expired => KEY_EXPIRED,
            (Cause::Expiry, _) => KEY_EXPIRING,
            _ => STATUS_CHANGED,
        }
    }
}

/// The notice that a key (in `status`) expires at `expires_at` (RFC 3339), at `stage`: always
/// an event, though the status does not move.
pub fn expiry_notice(
    tenant: &str,
    provider: &str,
    status: Status,
    expires_at: &str,
    stage: crate::expiry::Stage,
    at: &str,
) -> StatusChanged {
    StatusChanged {
        tenant: tenant.to_owned(),
        provider: provider.to_owned(),
        from: status,
        to: status,
        reason: Reason {
            expiry: Some(ExpiryNotice {
                expires_at: expires_at.to_owned(),
                stage,
            }),
            ..Reason::by(Cause::Expiry)
        },
        at: at.to_owned(),
        failure: None,
    }
}

/// The event for a key replaced by `reason.by`: always an event, even when the status stays
/// the same (a working key replaced by another that works).
pub fn key_replaced(
    tenant: &str,
    provider: &str,
    from: Status,
    to: Status,
    reason: Reason,
    at: &str,
) -> StatusChanged {
    StatusChanged {
        tenant: tenant.to_owned(),
        provider: provider.to_owned(),
        from,
        to,
        failure: reason.failure.map(Failure::view),
        reason,
        at: at.to_owned(),
    }
}

/// The event for a move from `from` to `to`, or `None` when the status did not change.
pub fn status_changed(
    tenant: &str,
    provider: &str,
    from: Status,
    to: Status,
    reason: Reason,
    at: &str,
) -> Option<StatusChanged> {
    (from != to).then(|| StatusChanged {
        tenant: tenant.to_owned(),
        provider: provider.to_owned(),
        from,
        to,
        failure: reason.failure.map(Failure::view),
        reason,
        at: at.to_owned(),
    })
}

/// A webhook's body (Standard Webhooks' recommended shape: `type`, `timestamp`, `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub data: StatusChanged,
    /// When the tenant must act (the key is refused, expiring or expired): how the platform
    /// gets a link that opens this provider's row for that tenant (a connect session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixLink>,
}

/// How to mint a fix link: `POST {path}` with `body` (and the user the link is for), with a
/// service or platform-admin token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixLink {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

impl Envelope {
    pub fn of(event: StatusChanged) -> Self {
        let needs_fix =
            event.to == Status::Invalid || matches!(event.kind(), KEY_EXPIRING | KEY_EXPIRED);
        Self {
            kind: event.kind().to_owned(),
            timestamp: event.at.clone(),
            fix: needs_fix.then(|| FixLink {
                method: "POST".into(),
                path: "/v1/connect/sessions".into(),
                body: serde_json::json!({"tenant": event.tenant, "provider": event.provider}),
            }),
            data: event,
        }
    }
}

/// One event queued for delivery: the id and body are the same on every attempt
/// (`webhook-id`); `attempt` counts from 1 within a `series` (0 for the first; each
/// redelivery starts the next). Only an attempt of the event's current series runs or records
/// anything ([`attempt_is_current`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub id: String,
    pub body: String,
    pub attempt: u32,
    /// Messages queued before series existed read as 0, the first series.
    #[serde(default)]
    pub series: u32,
    /// The event's tenant, which says which database holds its state (`crate::shard`);
    /// messages queued before it was carried read as `None`: the home database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Whether a queued attempt of `message_series` may run and record its result, given the
/// event's stored state: only while the event is `pending` in that very series. An attempt
/// left from a series a redelivery replaced (or one for an event already delivered or
/// dead-lettered) does nothing, so it can never overwrite the newer series' state.
pub fn attempt_is_current(
    stored: crate::api::Delivery,
    stored_series: u32,
    message_series: u32,
) -> bool {
    stored == crate::api::Delivery::Pending && stored_series == message_series
}

/// A margin past the longest wait the retry policy schedules, for a queue's own delays and
/// retries, before a `pending` event with no recorded attempt counts as stalled.
pub const STALL_MARGIN_MS: u64 = 3_600_000;

/// How long a `pending` event may go without a recorded attempt before the cron marks it
/// dead (a message lost to a queue failure would otherwise leave it `pending` for ever, and a
/// `pending` event cannot be redelivered).
pub fn stall_after_ms(policy: &crate::webhook::RetryPolicy) -> u64 {
    u64::from(policy.cap_s)
        .saturating_mul(1000)
        .saturating_add(STALL_MARGIN_MS)
}

/// Whether a `pending` event last moved at `progress_ms` has stalled by `now_ms`.
pub fn stalled(progress_ms: u64, now_ms: u64, policy: &crate::webhook::RetryPolicy) -> bool {
    now_ms.saturating_sub(progress_ms) > stall_after_ms(policy)
}

/// Work on the service's queue: a scheduled re-check, or a webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "kebab-case")]
pub enum Job {
    Recheck(crate::recheck::RecheckMessage),
    Deliver(DeliveryMessage),
}

/// Why a `WEBHOOK_URL` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("WEBHOOK_URL is not a URL")]
    NotAUrl,
    #[error("WEBHOOK_URL must be https (http only to a loopback address in development)")]
    NotHttps,
    #[error("WEBHOOK_URL must not carry a user name or password")]
    Credentials,
}

/// An event's id as the service makes them: `msg_` and 32 lowercase hex digits (the
/// `webhook-id` of its deliveries).
pub fn is_event_id(id: &str) -> bool {
    id.strip_prefix("msg_").is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Why an event's webhook cannot be sent again now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedeliveryRefused {
    #[error("its webhook is still being delivered; wait for the attempts to end")]
    InFlight,
}

/// Whether a platform admin may send an event's webhook again, by its delivery state: a dead
/// letter (the receiver is mended), a delivered one (the receiver lost it), or one that
/// happened before `WEBHOOK_URL` was set. Not one whose attempts are under way: a second series
/// would race the first. A redelivery starts a new series at attempt 1, with the same
/// `webhook-id` and body, so a receiver that deduplicates by id sees it once.
pub fn may_redeliver(state: crate::api::Delivery) -> Result<(), RedeliveryRefused> {
    use crate::api::Delivery;
    match state {
        Delivery::Dead | Delivery::Delivered | Delivery::None => Ok(()),
        Delivery::Pending => Err(RedeliveryRefused::InFlight),
    }
}

/// Checks where webhooks go: https, or http to loopback when `dev` (the local receiver).
pub fn webhook_url(text: &str, dev: bool) -> Result<url::Url, WebhookUrlError> {
    let url = url::Url::parse(text.trim()).map_err(|_| WebhookUrlError::NotAUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if dev && loopback => Ok(url),
        _ => Err(WebhookUrlError::NotHttps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::status::any_status as status;

    proptest! {
        /// An event exactly when the status moved, saying from where to where.
        #[test]
        fn an_event_exactly_when_the_status_moves(from in status(), to in status()) {
            let e = status_changed("t", "p", from, to, Reason::key_saved(), "2026-11-28T00:00:00Z");
            prop_assert_eq!(e.is_some(), from != to);
            if let Some(e) = e {
                prop_assert_eq!((e.from, e.to), (from, to));
            }
        }
    }

    #[test]
    fn only_a_webhook_in_flight_cannot_be_sent_again() {
        use crate::api::Delivery;
        for d in [
            Delivery::None,
            Delivery::Pending,
            Delivery::Delivered,
            Delivery::Dead,
        ] {
            assert_eq!(may_redeliver(d).is_err(), d == Delivery::Pending, "{d:?}");
        }
    }

    proptest! {
        /// Exactly the ids the service makes.
        #[test]
        fn event_ids_are_msg_and_32_hex(bytes in any::<[u8; 16]>(), junk in "\\PC{0,40}") {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let made = format!("msg_{hex}");
            prop_assert!(is_event_id(&made));
            prop_assert!(!is_event_id(&made.to_uppercase()));
            let longer = format!("{made}0");
            prop_assert!(!is_event_id(&longer));
            prop_assert_eq!(is_event_id(&junk), junk.len() == 36 && junk.starts_with("msg_") && junk[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }

    #[test]
    fn webhooks_go_over_https_or_to_loopback_in_development() {
        assert!(webhook_url("https://platform.example/hooks/byok", false).is_ok());
        assert_eq!(
            webhook_url("http://platform.example/hooks", false).err(),
            Some(WebhookUrlError::NotHttps)
        );
        assert_eq!(
            webhook_url("http://127.0.0.1:9000/hooks", false).err(),
            Some(WebhookUrlError::NotHttps)
        );
        assert!(webhook_url("http://127.0.0.1:9000/hooks", true).is_ok());
        assert_eq!(
            webhook_url("http://10.0.0.5/hooks", true).err(),
            Some(WebhookUrlError::NotHttps)
        );
        assert_eq!(
            webhook_url("https://u:p@platform.example/", false).err(),
            Some(WebhookUrlError::Credentials)
        );
        assert_eq!(
            webhook_url("hooks", false).err(),
            Some(WebhookUrlError::NotAUrl)
        );
    }

    #[test]
    fn each_event_is_delivered_as_its_own_webhook_type() {
        use crate::expiry::Stage;
        let at = "2026-11-30T00:00:00.000Z";
        let changed = status_changed(
            "t",
            "p",
            Status::Connected,
            Status::Invalid,
            Reason::by(Cause::Recheck),
            at,
        );
        assert_eq!(
            changed.map(|e| Envelope::of(e).kind),
            Some(STATUS_CHANGED.to_owned())
        );
        let replaced = key_replaced(
            "t",
            "p",
            Status::Connected,
            Status::Connected,
            Reason::replaced("ada"),
            at,
        );
        assert_eq!(Envelope::of(replaced).kind, KEY_REPLACED);
        for (stage, kind) in [
            (Stage::Soon, KEY_EXPIRING),
            (Stage::Tomorrow, KEY_EXPIRING),
            (Stage::Expired, KEY_EXPIRED),
        ] {
            let notice = expiry_notice("t", "p", Status::Connected, at, stage, at);
            assert_eq!(
                (notice.from, notice.to),
                (Status::Connected, Status::Connected)
            );
            assert_eq!(Envelope::of(notice).kind, kind);
        }
    }

    #[test]
    fn jobs_carry_their_kind() {
        let job = Job::Deliver(DeliveryMessage {
            id: "msg_1".into(),
            body: "{}".into(),
            attempt: 2,
            series: 1,
            tenant: Some("acme".into()),
        });
        let json = serde_json::to_value(&job).expect("json");
        assert_eq!(json["job"], "deliver");
        assert_eq!(serde_json::from_value::<Job>(json).expect("back"), job);
        // A message queued before series existed is an attempt of the first series.
        let old: Job = serde_json::from_value(
            serde_json::json!({"job": "deliver", "id": "msg_1", "body": "{}", "attempt": 3}),
        )
        .expect("old message");
        assert!(matches!(
            old,
            Job::Deliver(DeliveryMessage {
                series: 0,
                tenant: None,
                ..
            })
        ));
    }

    #[test]
    fn a_pending_event_stalls_only_after_the_longest_wait_and_a_margin() {
        let p = crate::webhook::RetryPolicy::default();
        let limit = stall_after_ms(&p);
        assert!(
            limit > u64::from(p.cap_s) * 1000,
            "never while a retry may still come"
        );
        assert!(!stalled(1_000, 1_000 + limit, &p));
        assert!(stalled(1_000, 1_001 + limit, &p));
        assert!(
            !stalled(5_000, 1_000, &p),
            "a clock behind the row is not a stall"
        );
    }

    #[test]
    fn a_leftover_attempt_of_a_replaced_series_does_nothing() {
        use crate::api::Delivery;
        // Series 0 died; an admin redelivered (series 1, pending). A retry of series 0 that
        // was still queued arrives: it must neither send nor record.
        assert!(!attempt_is_current(Delivery::Pending, 1, 0));
        assert!(attempt_is_current(Delivery::Pending, 1, 1));
        // Once delivered or dead, no attempt of any series runs again.
        for state in [Delivery::Delivered, Delivery::Dead, Delivery::None] {
            assert!(!attempt_is_current(state, 1, 1), "{state:?}");
        }
    }

    #[test]
    fn the_webhook_body_names_the_type_and_carries_the_change() {
        let e = status_changed(
            "acme",
            "anthropic",
            Status::Connected,
            Status::Invalid,
            Reason::tested(Cause::Recheck, Verdict::InvalidCredential),
            "2026-11-28T10:00:00Z",
        )
        .expect("moved");
        let body = serde_json::to_value(Envelope::of(e)).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "type": "integration.status_changed",
                "timestamp": "2026-11-28T10:00:00Z",
                "data": {"tenant": "acme", "provider": "anthropic", "from": "connected", "to": "invalid",
                         "reason": {"cause": "recheck", "verdict": "invalid-credential"},
                         "at": "2026-11-28T10:00:00Z"},
                // A refused key: how to get a link that opens this provider for this tenant.
                "fix": {"method": "POST", "path": "/v1/connect/sessions",
                        "body": {"tenant": "acme", "provider": "anthropic"}}
            })
        );
        // A key that works again needs no fix.
        let back = status_changed(
            "acme",
            "anthropic",
            Status::Invalid,
            Status::Connected,
            Reason::tested(Cause::Recheck, Verdict::Connected),
            "2026-11-28T11:00:00Z",
        )
        .expect("moved");
        assert_eq!(Envelope::of(back).fix, None);
    }
}
