//! Request, response and error types of the HTTP API, shared by the Worker and the CLI.
//!
//! Errors are RFC 9457 problem documents (`application/problem+json`). No type here that a
//! response serialises holds a secret, except [`ResolveResponse`], the one answer that carries
//! a key, to the `service` role only.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogEntry, FieldError, ValidationErrors};
use crate::credential::{CredentialError, FormatWarning};
use crate::ids::{ProviderKey, TenantId};
use crate::mask::{FormValueError, Mask};
use crate::resolve::{NotFound, Source, Unresolved, UnresolvedKind};
use crate::status::{Status, Verdict};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem the service reports. Each has a stable `type` URI, a title and a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The body is not JSON of the expected shape.
    MalformedBody,
    /// The body is well-formed but breaks a rule (see `errors`).
    ValidationFailed,
    Unauthenticated,
    Forbidden,
    NotFound,
    /// Resolve: the provider is not in the catalog.
    UnknownProvider,
    /// Resolve: the tenant has not installed the provider and the platform key cannot serve.
    NotInstalled,
    /// Resolve: installed without a key, and the platform key cannot serve.
    NoKey,
    /// Resolve: no tenant key, and the platform key is not allowed (by the entry, or by the
    /// tenant's policy: bring your own key only).
    FallbackNotAllowed,
    MethodNotAllowed,
    Conflict,
    /// A new key saved over a working one failed its test: nothing changed (`failure` says
    /// why, in words).
    KeyRefused,
    /// An admin's entry or plugin failed the conformance suite: nothing was saved (`cases`
    /// says which case failed and why).
    ConformanceFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// The plugin misbehaved (trap, limit); the service keeps serving.
    PluginFault,
    /// A rate limit refused the request (`Retry-After` says when to try again).
    RateLimited,
    /// Resolve: the answer would be the platform key, and the tenant's daily cap on it is
    /// reached (`cap` says which, and when it resets; `Retry-After` too).
    PlatformCapReached,
    /// A setting the service needs is missing or unusable; the detail names it (never its value).
    Misconfigured,
    /// The identity provider's key set could not be fetched and none is cached (503).
    IdentityProviderUnavailable,
    /// The tenant's rows are being copied to another database (`D1_SHARDS_NEXT`): reads work,
    /// changes wait (503, `Retry-After`).
    Moving,
    Internal,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedBody => "malformed-body",
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::UnknownProvider => "unknown-provider",
            ProblemKind::NotInstalled => "not-installed",
            ProblemKind::NoKey => "no-key",
            ProblemKind::FallbackNotAllowed => "fallback-not-allowed",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::KeyRefused => "key-refused",
            ProblemKind::ConformanceFailed => "conformance-failed",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PluginFault => "plugin-fault",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::PlatformCapReached => "platform-cap-reached",
            ProblemKind::Misconfigured => "misconfigured",
            ProblemKind::IdentityProviderUnavailable => "identity-provider-unavailable",
            ProblemKind::Moving => "moving",
            ProblemKind::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedBody => "The request body could not be read",
            ProblemKind::ValidationFailed => "The request breaks a rule",
            ProblemKind::Unauthenticated => "Sign-in required",
            ProblemKind::Forbidden => "Not allowed for your role",
            ProblemKind::NotFound => "Not found",
            ProblemKind::UnknownProvider => "No such provider",
            ProblemKind::NotInstalled => "The tenant has not installed this provider",
            ProblemKind::NoKey => "The tenant has no key for this provider",
            ProblemKind::FallbackNotAllowed => "The platform key may not be used",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflicts with the current state",
            ProblemKind::KeyRefused => "The new key was refused; the current key stays in use",
            ProblemKind::ConformanceFailed => {
                "The connection test failed the conformance suite; nothing was saved"
            }
            ProblemKind::PayloadTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "Unsupported content type",
            ProblemKind::PluginFault => "The connection test plugin failed",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::PlatformCapReached => "The platform key's daily cap is reached",
            ProblemKind::Misconfigured => "The service is not configured",
            ProblemKind::IdentityProviderUnavailable => "The identity provider is unreachable",
            ProblemKind::Moving => "Changes are paused while this workspace's data moves",
            ProblemKind::Internal => "Internal error",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ProblemKind::MalformedBody => 400,
            ProblemKind::ValidationFailed => 422,
            ProblemKind::Unauthenticated => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound
            | ProblemKind::UnknownProvider
            | ProblemKind::NotInstalled
            | ProblemKind::NoKey
            | ProblemKind::FallbackNotAllowed => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::Conflict => 409,
            ProblemKind::KeyRefused => 422,
            ProblemKind::ConformanceFailed => 422,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::PluginFault => 502,
            ProblemKind::RateLimited => 429,
            ProblemKind::PlatformCapReached => 429,
            ProblemKind::Misconfigured => 500,
            ProblemKind::IdentityProviderUnavailable | ProblemKind::Moving => 503,
            ProblemKind::Internal => 500,
        }
    }
}

/// An RFC 9457 problem document. `detail` says what to do about it and never holds a secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI reference naming the kind, relative to the service: `/problems/<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field-level errors of a `validation-failed` problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// What some kinds add (`failure`, `cap`), boxed so that an error stays small.
    #[serde(flatten)]
    pub extra: Box<ProblemExtra>,
    /// Seconds to wait before trying again: sent as the `Retry-After` header, not in the body.
    #[serde(skip)]
    pub retry_after_s: Option<u32>,
}

/// The members only some problems carry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProblemExtra {
    /// Why a key failed, in words (`key-refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::failure::FailureView>,
    /// Which cap on the platform key was reached (`platform-cap-reached`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<CapReachedView>,
    /// Every case of the conformance suite with its result (`conformance-failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<Vec<crate::conformance::CaseResult>>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{}", kind.slug()),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: detail.into(),
            errors: Vec::new(),
            extra: Box::default(),
            retry_after_s: None,
        }
    }

    pub fn is(&self, kind: ProblemKind) -> bool {
        self.kind.strip_prefix("/problems/") == Some(kind.slug())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl From<ValidationErrors> for Problem {
    fn from(e: ValidationErrors) -> Self {
        let mut p = Problem::new(ProblemKind::ValidationFailed, e.to_string());
        p.errors = e.0;
        p
    }
}

impl From<CredentialError> for Problem {
    fn from(e: CredentialError) -> Self {
        Problem::new(ProblemKind::ValidationFailed, e.to_string())
    }
}

impl From<FormValueError> for Problem {
    fn from(e: FormValueError) -> Self {
        Problem::new(ProblemKind::ValidationFailed, e.to_string())
    }
}

impl From<NotFound> for Problem {
    fn from(e: NotFound) -> Self {
        Problem::new(ProblemKind::NotFound, e.to_string())
    }
}

impl Unresolved {
    /// The resolve problem: its type says what the caller can branch on, the detail why.
    pub fn problem(self, tenant: &str, provider: &str) -> Problem {
        let kind = match self.kind() {
            UnresolvedKind::UnknownProvider => ProblemKind::UnknownProvider,
            UnresolvedKind::NotInstalled => ProblemKind::NotInstalled,
            UnresolvedKind::NoKey => ProblemKind::NoKey,
            UnresolvedKind::FallbackNotAllowed => ProblemKind::FallbackNotAllowed,
        };
        Problem::new(
            kind,
            format!(
                "No key for '{provider}' and tenant '{tenant}': {}.",
                self.why
            ),
        )
    }
}

/// `POST /v1/integrations`: install, with a key now or "I'll add it later" (no key).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    pub provider: ProviderKey,
    /// The main secret; absent for "I'll add it later" (then `fields` must be absent too).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 1))]
    pub key: Option<SecretString>,
    /// The entry's other credential fields by name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub fields: BTreeMap<String, SecretString>,
    /// When the key expires, if the provider issued it with an expiry: a day (`YYYY-MM-DD`)
    /// or an RFC 3339 time, in the future. Notices fire 14 days and 1 day before, and at it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "2027-01-31"))]
    pub expires_at: Option<String>,
}

/// `PUT /v1/integrations/{key}/credential` and `PUT /v1/admin/platform-keys/{key}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// The new key, or the mask exactly as shown to keep the stored one.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 1))]
    pub key: SecretString,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub fields: BTreeMap<String, SecretString>,
    /// When the key expires (tenant keys only): as for install. With the mask unchanged, it
    /// sets the stored key's expiry without testing it again.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "2027-01-31"))]
    pub expires_at: Option<String>,
}

/// `POST /v1/resolve` (getAiConfig).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub tenant: TenantId,
    pub provider: ProviderKey,
}

/// `POST /v1/resolve/report`: what the provider answered an AI function that used a resolved
/// key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReportRequest {
    pub tenant: TenantId,
    pub provider: ProviderKey,
    /// Whose key the caller used (the `source` resolve answered).
    pub source: Source,
    /// The HTTP status the provider answered (100-599).
    #[cfg_attr(feature = "openapi", schema(minimum = 100, maximum = 599))]
    pub status: u16,
}

impl UsageReportRequest {
    /// The report, once its status is a real HTTP status.
    pub fn report(&self) -> Result<crate::report::Report, Problem> {
        if !(100..=599).contains(&self.status) {
            return Err(Problem::new(
                ProblemKind::ValidationFailed,
                format!(
                    "status must be the HTTP status the provider answered (100-599), not {}.",
                    self.status
                ),
            ));
        }
        Ok(crate::report::Report {
            source: self.source,
            status: self.status,
        })
    }
}

/// The 202 answer to a usage report: what the service will do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageReportAnswer {
    /// `retest-scheduled`, `deduplicated`, `not-a-rejection`, `no-tenant-key` or
    /// `platform-key-recorded`.
    pub action: String,
    pub detail: String,
    /// When deduplicated: from when a report may re-test again (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retest_after: Option<String>,
}

/// `PUT /v1/admin/tenants/{tenant}/providers/{key}/policy`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    pub platform_fallback: crate::resolve::PlatformFallback,
    /// At most this many resolves a day answered with this provider's platform key for the
    /// tenant (UTC days). Absent or null: no cap. The tenant's own key is never capped.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295u64))]
    pub platform_daily_cap: Option<u32>,
}

/// `PUT /v1/admin/tenants/{tenant}/policy`: the tenant's cap over every provider's platform
/// key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPolicyRequest {
    /// At most this many platform-key resolves a day, all providers together. Null: no cap.
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295u64))]
    pub platform_daily_cap: Option<u32>,
}

/// A tenant's overall cap on the platform key, and today's count.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantPolicyView {
    pub tenant: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295u64))]
    pub platform_daily_cap: Option<u32>,
    /// Platform-key resolves counted today (UTC) against a cap, all providers together.
    /// Resolves under no cap at all are not counted here (see `/v1/admin/usage`).
    pub platform_resolves_today: u32,
    /// RFC 3339: when today's counts reset.
    pub resets_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// The cap a refused resolve reached: the answer would have been the platform key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapReachedView {
    /// Always `platform`: only the platform key is capped.
    pub source: crate::resolve::Source,
    pub scope: crate::quota::CapScope,
    pub cap: u32,
    /// RFC 3339: the next UTC midnight.
    pub resets_at: String,
}

/// A tenant's policy for a provider, and what resolve does under it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyView {
    pub tenant: TenantId,
    pub provider: ProviderKey,
    pub platform_fallback: crate::resolve::PlatformFallback,
    /// Whether the platform key may serve this tenant when it has no key of its own: the
    /// policy together with the catalog entry's rule.
    pub platform_key_allowed: bool,
    /// The daily cap on this provider's platform key for the tenant; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295u64))]
    pub platform_daily_cap: Option<u32>,
    /// Resolves of this provider's platform key counted today (UTC) against a cap.
    #[serde(default)]
    pub platform_resolves_today: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// One row of `GET /v1/admin/usage`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub tenant: TenantId,
    pub provider: ProviderKey,
    pub source: Source,
    pub resolves: u64,
    pub reports: u64,
    pub rejections: u64,
}

/// `GET /v1/admin/usage?since=YYYY-MM-DD`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageList {
    pub since: String,
    pub usage: Vec<UsageRow>,
}

/// One status change in an integration's history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// The `webhook-id` its deliveries carry.
    pub id: String,
    pub from: Status,
    pub to: Status,
    pub reason: crate::events::Reason,
    /// RFC 3339.
    pub at: String,
    /// Why the key failed, in words with the next step (from `reason.failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::failure::FailureView>,
}

/// Where an event's webhook stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// No `WEBHOOK_URL` was set when it happened.
    None,
    Pending,
    Delivered,
    /// Every attempt failed: the dead letter.
    Dead,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::None => "none",
            Delivery::Pending => "pending",
            Delivery::Delivered => "delivered",
            Delivery::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Delivery::None,
            Delivery::Pending,
            Delivery::Delivered,
            Delivery::Dead,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// An event with its webhook's delivery state (platform admins).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventView {
    #[serde(flatten)]
    pub event: crate::events::StatusChanged,
    /// The `webhook-id` of its deliveries.
    pub id: String,
    pub delivery: Delivery,
    pub attempts: u32,
}

/// `GET /v1/admin/webhooks?delivery=dead`: newest first, at most 100.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventList {
    pub delivery: Delivery,
    pub events: Vec<WebhookEventView>,
}

/// `GET /v1/integrations/{key}/events`: newest first, at most 50.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// The answer to resolve: the one response that carries a key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct ResolveResponse {
    pub provider: ProviderKey,
    pub api_key: String,
    /// The credential's other fields (Twilio's Account SID...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    pub source: Source,
    /// The tenant key's status; absent for the platform key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl fmt::Debug for ResolveResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveResponse")
            .field("provider", &self.provider)
            .field("api_key", &"[redacted]")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .field("status", &self.status)
            .finish()
    }
}

/// What the host concluded when no plugin verdict exists.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostVerdict {
    /// The plugin trapped or hit a limit.
    PluginFault,
    /// The entry has no test plugin: the key stays unverified.
    NoTest,
    /// The plugin asked to reach an address outside the entry's egress rules, and this
    /// service refused.
    EgressRefused,
}

/// A test's verdict as reported: the plugin's, or the host's when the plugin gave none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReportedVerdict {
    Plugin(Verdict),
    Host(HostVerdict),
}

impl ReportedVerdict {
    pub fn finding(self) -> crate::status::Finding {
        match self {
            ReportedVerdict::Plugin(v) => v.finding(),
            ReportedVerdict::Host(_) => crate::status::Finding::Inconclusive,
        }
    }
}

/// The last connection test of an integration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub verdict: ReportedVerdict,
    /// Plain words for the user, from the plugin or the host. Never holds the key.
    pub message: String,
    /// Which account the key belongs to ("Acme Ltd (test mode)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why it did not pass, in words with the next step; absent when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::failure::FailureView>,
    /// What a v2 plugin said beyond the verdict: why the provider refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<crate::failure::Hint>,
    /// The permissions the key lacks, as the provider named them (v2 plugins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<String>,
    /// RFC 3339: when the key expires, as the provider said (v2 plugins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339.
    pub tested_at: String,
}

/// An installed provider, as the Settings page shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub provider: ProviderKey,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    pub category: String,
    pub status: Status,
    /// The primary secret, masked; absent when disconnected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Mask>,
    /// Non-secret credential fields as stored (Account SID...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test: Option<TestReport>,
    /// Format warnings from the save that produced this view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub format_warnings: Vec<FormatWarning>,
    /// RFC 3339.
    pub installed_at: String,
    pub updated_at: String,
    /// The last resolve that returned this key (RFC 3339; counted in batches, so up to a few
    /// seconds late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// The last test that concluded (connected or rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<String>,
    /// When the current run of failed tests (rejected or inconclusive) began; absent while the
    /// key works or is new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// The serving key's version: 1 for the first key saved, one more per save. The
    /// integration itself (tenant, provider) keeps its identity through replacements.
    #[serde(default)]
    pub key_version: u64,
    /// A new key saved over a working one, not serving yet: being tested, or waiting for the
    /// user's choice after a test that could not conclude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingView>,
    /// RFC 3339: when the serving key expires, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A new key waiting to replace the serving one (`IntegrationView.pending`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    /// Name it in `POST .../pending/switch` or `DELETE .../pending?version=`.
    pub version: u64,
    pub state: crate::replace::PendingState,
    pub mask: Option<Mask>,
    /// Non-secret fields of the new credential.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Who saved it.
    pub saved_by: String,
    /// RFC 3339.
    pub saved_at: String,
    /// Its test, once one finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test: Option<TestReport>,
    /// RFC 3339: when it expires, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /v1/integrations/{key}/pending/switch`: use the pending key, whose test could not
/// conclude, anyway.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    /// The pending key's version, as shown: a key saved since is not switched to blindly.
    pub version: u64,
}

/// `GET /v1/integrations`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationView>,
}

/// `GET /v1/providers`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ProviderList {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::catalog::ProviderSpec>))]
    pub providers: Vec<CatalogEntry>,
}

/// One audit log row. Never holds a secret: outcomes are verdicts and statuses.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKey>,
    pub action: String,
    pub outcome: String,
}

/// The actors that act without a person: scheduled re-checks and the re-tests usage reports
/// claim. A tenant's audit view can leave them out, so that what people did is not buried
/// under a re-check a day per key.
pub const AUTOMATED_ACTORS: [&str; 2] = ["scheduler", "usage-report"];

/// Whose rows an audit view shows (`GET /v1/audit?by=`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditBy {
    /// Every row (the default).
    All,
    /// What people did: not the [`AUTOMATED_ACTORS`].
    People,
    /// Only the [`AUTOMATED_ACTORS`].
    Automated,
}

impl AuditBy {
    pub fn parse(s: &str) -> Option<AuditBy> {
        match s {
            "all" => Some(AuditBy::All),
            "people" => Some(AuditBy::People),
            "automated" => Some(AuditBy::Automated),
            _ => None,
        }
    }

    /// Whether a row by `actor` belongs in this view.
    pub fn shows(self, actor: &str) -> bool {
        let automated = AUTOMATED_ACTORS.contains(&actor);
        match self {
            AuditBy::All => true,
            AuditBy::People => !automated,
            AuditBy::Automated => automated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Rule;
    use secrecy::ExposeSecret;

    #[test]
    fn problems_serialise_per_rfc_9457() {
        let p = Problem::new(
            ProblemKind::NotFound,
            "no integration 'stripe' for this tenant",
        );
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["type"], "/problems/not-found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["title"], "Not found");
        assert!(v.get("errors").is_none());
        assert!(p.is(ProblemKind::NotFound));
    }

    #[test]
    fn validation_problems_carry_field_errors() {
        let e = ValidationErrors(vec![FieldError {
            field: "help_url".into(),
            rule: Rule::HttpsUrl,
            message: "must be an absolute https:// URL".into(),
        }]);
        let v = serde_json::to_value(Problem::from(e)).expect("json");
        assert_eq!(v["status"], 422);
        assert_eq!(v["errors"][0]["field"], "help_url");
        assert_eq!(v["errors"][0]["rule"], "https-url");
        assert!(v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("help_url"));
    }

    #[test]
    fn install_requests_refuse_unknown_fields_and_hide_the_key() {
        let r: InstallRequest =
            serde_json::from_str(r#"{"provider":"openai","key":"sk-secret-value"}"#)
                .expect("parse");
        assert_eq!(
            r.key.as_ref().map(|k| k.expose_secret()),
            Some("sk-secret-value")
        );
        assert!(!format!("{r:?}").contains("sk-secret-value"));
        let later: InstallRequest =
            serde_json::from_str(r#"{"provider":"openai"}"#).expect("parse");
        assert!(later.key.is_none());
        let err = serde_json::from_str::<InstallRequest>(r#"{"provider":"openai","api_key":"x"}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `api_key`"));
    }

    #[test]
    fn verdicts_report_plugin_and_host_outcomes() {
        let v: ReportedVerdict =
            serde_json::from_str("\"insufficient-permission\"").expect("parse");
        assert_eq!(v, ReportedVerdict::Plugin(Verdict::InsufficientPermission));
        let h: ReportedVerdict = serde_json::from_str("\"plugin-fault\"").expect("parse");
        assert_eq!(h, ReportedVerdict::Host(HostVerdict::PluginFault));
        assert_eq!(h.finding(), crate::status::Finding::Inconclusive);
        assert!(serde_json::from_str::<ReportedVerdict>("\"maybe\"").is_err());
    }

    #[test]
    fn resolve_debug_redacts_the_key() {
        let r = ResolveResponse {
            provider: ProviderKey::parse("openai").expect("key"),
            api_key: "sk-very-secret".into(),
            fields: BTreeMap::new(),
            source: Source::Tenant,
            status: Some(Status::Connected),
        };
        assert!(!format!("{r:?}").contains("sk-very-secret"));
    }

    #[test]
    fn audit_views_split_people_from_the_automated_actors() {
        for actor in AUTOMATED_ACTORS {
            assert!(!AuditBy::People.shows(actor) && AuditBy::Automated.shows(actor));
        }
        for actor in ["owner@acme", "alice", "platform-admin@platform"] {
            assert!(AuditBy::People.shows(actor) && !AuditBy::Automated.shows(actor));
        }
        assert!(AUTOMATED_ACTORS.iter().all(|a| AuditBy::All.shows(a)));
        assert_eq!(AuditBy::parse("people"), Some(AuditBy::People));
        assert_eq!(AuditBy::parse("everyone"), None);
    }
}
