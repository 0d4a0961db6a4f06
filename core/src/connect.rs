//! Connect sessions: the single-use links that open the Marketplace or Settings inside the
//! platform's app (`POST /v1/connect/sessions`, `GET /connect/{token}`), and what such a
//! session carries (language, theme, where events go). Decisions only; the Worker stores the
//! link (by its digest), marks it used with one conditional update, and sets the cookie.
//!
//! - A link is valid for at most [`MAX_LINK_SECONDS`] and opens once. Who may mint one for
//!   which tenant is [`plan`]'s decision: the platform's backend (a service token within its
//!   scope, or a platform admin) for any tenant, an owner for their own tenant only.
//! - `return_to` and `origin` must be on the platform's list (`CONNECT_ORIGINS`); events are
//!   posted to exactly that origin.
//! - The theme is checked here so the pages can apply it as CSS custom properties without
//!   ever interpreting text as CSS.

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::catalog::{FieldError, Rule};
use crate::ids::{ProviderKey, TenantId};
use crate::scope::Scope;

/// The longest a link stays valid.
pub const MAX_LINK_SECONDS: u64 = 600;
/// The lifetime of the session a link opens (cookie `Max-Age` and token `exp`).
pub const SESSION_SECONDS: u64 = 3600;
/// The settings this module reads (Worker vars).
pub const CONNECT_ORIGINS: &str = "CONNECT_ORIGINS";
pub const ALLOWED_EMBED_ORIGINS: &str = "ALLOWED_EMBED_ORIGINS";

/// The languages the pages speak.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Fr,
    De,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Fr, Lang::De, Lang::Es];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::Es => "es",
        }
    }

    /// A language tag (`fr`, `fr-CA`, `DE`), by its primary subtag.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.as_str() == primary)
    }
}

/// The language for a visitor: the session's, else the best of `Accept-Language` (by `q`,
/// then order), else English.
pub fn negotiate(session: Option<Lang>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = session {
        return lang;
    }
    let mut best: Option<(u16, usize, Lang)> = None;
    for (i, item) in accept_language.unwrap_or_default().split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let Some(lang) = Lang::parse(tag) else {
            continue;
        };
        let q = (q.min(1.0) * 1000.0) as u16;
        if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
            best = Some((q, i, lang));
        }
    }
    best.map_or(Lang::En, |(_, _, l)| l)
}

/// How the platform shows the pages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A window opened by the app (`@byok/connect`, mode popup). Session: a cookie.
    #[default]
    Popup,
    /// A frame inside the app. Session: held by the page (third-party cookies are blocked).
    Iframe,
    /// The app's own tab navigates here and back (`return_to`). Session: a cookie.
    Page,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeMode {
    Light,
    Dark,
}

/// The app's look, applied as CSS custom properties.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// `#rrggbb` or `#rgb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    /// Corner radius in pixels, 0 to 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 24))]
    pub radius: Option<u32>,
    /// A font-family list: letters, digits, spaces, commas, hyphens and quotes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ThemeMode>,
}

pub const MAX_RADIUS: u32 = 24;
pub const MAX_FONT_CHARS: usize = 80;

impl Theme {
    /// Every rule the theme breaks, naming the field under `theme.`.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(accent) = &self.accent {
            let hex = accent.strip_prefix('#').unwrap_or("");
            if !(matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
                errors.push(field(
                    "theme.accent",
                    Rule::Format,
                    "must be a colour written #rrggbb or #rgb",
                ));
            }
        }
        if self.radius.is_some_and(|r| r > MAX_RADIUS) {
            errors.push(field(
                "theme.radius",
                Rule::Format,
                format!("must be 0 to {MAX_RADIUS} (pixels)"),
            ));
        }
        if let Some(font) = &self.font {
            let ok = !font.trim().is_empty()
                && font.chars().count() <= MAX_FONT_CHARS
                && font
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " ,-'\"".contains(c));
            if !ok {
                errors.push(field(
                    "theme.font",
                    Rule::Format,
                    format!("must be a font-family list of at most {MAX_FONT_CHARS} letters, digits, spaces, commas, hyphens and quotes"),
                ));
            }
        }
        errors
    }
}

/// What a session opened by a link carries (in its token, shown by `GET /v1/me`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub mode: Mode,
    /// The platform app's origin: where the pages post events, and the only one they listen to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Theme>,
}

/// `POST /v1/connect/sessions`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The tenant (workspace); an owner's own when omitted. Required for service and
    /// platform-admin tokens.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The user the session is for (its `sub`); the caller's own when omitted.
    #[serde(default)]
    pub user: Option<String>,
    /// `owner` (default) or `member`; never more than the caller's own role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Opens this provider: its install dialog, or its Settings row when installed.
    #[serde(default)]
    pub provider: Option<String>,
    /// Where "Done" leads in page mode; must be on `CONNECT_ORIGINS`.
    #[serde(default)]
    pub return_to: Option<String>,
    /// The app's origin, for events; must be on `CONNECT_ORIGINS`. Defaults to
    /// `return_to`'s origin.
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub theme: Option<Theme>,
    /// Seconds the link stays valid: 1 to 600 (the default).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// The caller of `POST /v1/connect/sessions`.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub role: Role,
    pub tenant: &'a TenantId,
    pub sub: &'a str,
    pub scope: &'a Scope,
}

/// A checked request: what the link will open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    pub tenant: TenantId,
    pub user: String,
    pub role: Role,
    #[serde(default)]
    pub provider: Option<ProviderKey>,
    pub session: SessionInfo,
    /// When the link stops working (seconds since the epoch).
    pub expires_at: u64,
}

/// Why a caller may not mint a link (403), as opposed to a bad field (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("Members cannot create connect links: ask an owner, or have the platform's backend create it.")]
    Member,
    #[error("An owner creates connect links for their own workspace only ('{0}').")]
    OtherTenant(String),
    #[error("An owner creates connect links for themselves only: leave 'user' out, or have the platform's backend create the link.")]
    OtherUser,
    #[error("A link cannot carry the role '{0}': only member or owner.")]
    Role(&'static str),
    #[error("{0}")]
    Scope(String),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

fn field(name: &str, rule: Rule, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        rule,
        message: message.into(),
    }
}

/// The origin of `text` (`scheme://host[:port]`), if it is an https URL or http on loopback.
pub fn origin_of(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return None;
    }
    url.host_str()?;
    Some(url.origin().ascii_serialization())
}

/// A list of origins as the settings give them (comma- or space-separated). Each must be an
/// origin alone (no path, query or fragment).
pub fn parse_origins(text: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in text
        .unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let origin = origin_of(item).ok_or_else(|| {
            format!("'{item}' is not an https origin (http only for localhost or 127.0.0.1)")
        })?;
        if origin != item.trim_end_matches('/') {
            return Err(format!(
                "'{item}' must be an origin alone, such as {origin}"
            ));
        }
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Checks a request from `caller` at `now` against the platform's origins.
pub fn plan(
    req: &ConnectRequest,
    caller: Caller<'_>,
    origins: &[String],
    now: u64,
) -> Result<LinkPlan, ConnectError> {
    let mut errors = Vec::new();
    // Who, for which tenant.
    let tenant = match (caller.role, req.tenant.as_deref()) {
        (Role::Member, _) => return Err(ConnectError::Member),
        (Role::Owner, None) => Some(caller.tenant.clone()),
        (Role::Owner, Some(t)) if t == caller.tenant.as_str() => Some(caller.tenant.clone()),
        (Role::Owner, Some(_)) => {
            return Err(ConnectError::OtherTenant(caller.tenant.as_str().to_owned()))
        }
        (Role::Service | Role::PlatformAdmin, None) => {
            errors.push(field(
                "tenant",
                Rule::Required,
                "name the tenant the link is for",
            ));
            None
        }
        (Role::Service | Role::PlatformAdmin, Some(t)) => match TenantId::parse(t) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(field("tenant", Rule::Format, format!("the tenant {e}")));
                None
            }
        },
    };
    let role = req.role.unwrap_or(Role::Owner);
    // Every caller allowed here (an owner, the platform's backend) may open an owner's
    // session; a link never carries platform-admin or service.
    if !matches!(role, Role::Member | Role::Owner) {
        return Err(ConnectError::Role(role.as_str()));
    }
    let user = match req.user.as_deref().map(str::trim) {
        // An owner opens sessions for themselves only: the history names who acted.
        Some(u) if caller.role == Role::Owner && u != caller.sub => {
            return Err(ConnectError::OtherUser)
        }
        Some(u) if !u.is_empty() && u.len() <= 255 => u.to_owned(),
        Some(_) => {
            errors.push(field("user", Rule::Length, "must be 1 to 255 characters"));
            String::new()
        }
        None if caller.role == Role::Owner => caller.sub.to_owned(),
        None => {
            errors.push(field(
                "user",
                Rule::Required,
                "name the user the session is for (their id in the platform)",
            ));
            String::new()
        }
    };
    let provider = match req.provider.as_deref() {
        None => None,
        Some(p) => match ProviderKey::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(field("provider", Rule::Format, format!("the provider {e}")));
                None
            }
        },
    };
    if caller.role == Role::Service {
        if let Some(t) = &tenant {
            if !caller.scope.tenants.contains(t) {
                return Err(ConnectError::Scope(format!(
                    "The token's 'tenants' claim does not include '{}'.",
                    t.as_str()
                )));
            }
        }
        if let Some(p) = &provider {
            if !caller.scope.providers.contains(p) {
                return Err(ConnectError::Scope(format!(
                    "The token's 'providers' claim does not include '{}'.",
                    p.as_str()
                )));
            }
        }
    }
    let on_list = |name: &str, value: &str, errors: &mut Vec<FieldError>| -> Option<String> {
        match origin_of(value) {
            Some(o) if origins.contains(&o) => Some(o),
            Some(o) => {
                errors.push(field(
                    name,
                    Rule::Format,
                    if origins.is_empty() {
                        format!("{o} is not allowed: the service has no CONNECT_ORIGINS configured")
                    } else {
                        format!("{o} is not one of the platform's origins (CONNECT_ORIGINS)")
                    },
                ));
                None
            }
            None => {
                errors.push(field(
                    name,
                    Rule::HttpsUrl,
                    "must be an https URL (http only on localhost)",
                ));
                None
            }
        }
    };
    let return_to = req.return_to.as_deref().and_then(|r| {
        on_list("return_to", r, &mut errors)?;
        Some(r.trim().to_owned())
    });
    let origin = match (&req.origin, &return_to) {
        (Some(o), _) => on_list("origin", o, &mut errors),
        (None, Some(r)) => origin_of(r),
        (None, None) => None,
    };
    let mode = req.mode.unwrap_or_default();
    if matches!(mode, Mode::Popup | Mode::Iframe) && origin.is_none() && errors.is_empty() {
        errors.push(field(
            "origin",
            Rule::Required,
            "a popup or iframe posts its events to the app: name the app's origin (or a return_to)",
        ));
    }
    let lang = match req.lang.as_deref() {
        None => None,
        Some(l) => match Lang::parse(l) {
            Some(l) => Some(l),
            None => {
                errors.push(field("lang", Rule::Format, "must be one of en, fr, de, es"));
                None
            }
        },
    };
    if let Some(theme) = &req.theme {
        errors.extend(theme.check());
    }
    let ttl = req.expires_in.unwrap_or(MAX_LINK_SECONDS);
    if !(1..=MAX_LINK_SECONDS).contains(&ttl) {
        errors.push(field(
            "expires_in",
            Rule::Format,
            format!("must be 1 to {MAX_LINK_SECONDS} seconds"),
        ));
    }
    match tenant {
        Some(tenant) if errors.is_empty() => Ok(LinkPlan {
            tenant,
            user,
            role,
            provider,
            session: SessionInfo {
                mode,
                origin,
                return_to,
                lang,
                theme: req.theme.clone().filter(|t| *t != Theme::default()),
            },
            expires_at: now + ttl,
        }),
        _ => Err(ConnectError::Invalid(errors)),
    }
}

/// The page a link opens: the Marketplace, on the provider when one is named (the page opens
/// its install dialog, or moves to its Settings row when it is installed).
pub fn landing(provider: Option<&ProviderKey>) -> String {
    match provider {
        Some(p) => format!("/marketplace/integrations?provider={}", p.as_str()),
        None => "/marketplace/integrations".to_owned(),
    }
}

/// Why a link did not open, for the page that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such link: mistyped, cut short or tampered with.
    Unknown,
    Used,
    Expired,
}

impl LinkRefusal {
    /// Classifies a link that the conditional update did not open, from its stored row
    /// (`expires_at`, `used_at`), if any.
    pub fn classify(row: Option<(u64, Option<u64>)>, now: u64) -> LinkRefusal {
        match row {
            None => LinkRefusal::Unknown,
            Some((_, Some(_))) => LinkRefusal::Used,
            Some((expires_at, None)) if expires_at <= now => LinkRefusal::Expired,
            // Not used and not expired, yet not opened: another open won the race.
            Some(_) => LinkRefusal::Used,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            LinkRefusal::Unknown => 404,
            LinkRefusal::Used | LinkRefusal::Expired => 410,
        }
    }

    /// The page's heading and explanation.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            LinkRefusal::Unknown => (
                "This link is not valid",
                "It may have been copied incompletely or altered. Go back to the app and open the integrations again.",
            ),
            LinkRefusal::Used => (
                "This link has already been used",
                "Each link opens once, so that nobody else can reuse it. Go back to the app and open the integrations again.",
            ),
            LinkRefusal::Expired => (
                "This link has expired",
                "Links work for a few minutes only. Go back to the app and open the integrations again.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_764_000_000;
    const APP: &str = "https://app.example";

    fn origins() -> Vec<String> {
        vec![APP.to_owned(), "http://localhost:5173".to_owned()]
    }

    fn caller<'a>(role: Role, tenant: &'a TenantId, scope: &'a Scope) -> Caller<'a> {
        Caller {
            role,
            tenant,
            sub: "u-owner",
            scope,
        }
    }

    fn req(json: serde_json::Value) -> ConnectRequest {
        serde_json::from_value(json).expect("request")
    }

    fn fields(e: ConnectError) -> Vec<String> {
        match e {
            ConnectError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("refused: {other}")],
        }
    }

    #[test]
    fn the_platform_backend_mints_for_a_tenant_and_an_owner_for_their_own() {
        let acme = TenantId::parse("acme").expect("t");
        let any = Scope::unlimited();
        let plan = plan(
            &req(serde_json::json!({"tenant": "globex", "user": "u-7", "provider": "openai",
                "origin": APP, "mode": "iframe", "lang": "fr-CA", "theme": {"accent": "#0a7", "radius": 4}})),
            caller(Role::Service, &acme, &any),
            &origins(),
            NOW,
        )
        .expect("plan");
        assert_eq!(plan.tenant.as_str(), "globex");
        assert_eq!((plan.user.as_str(), plan.role), ("u-7", Role::Owner));
        assert_eq!(plan.session.lang, Some(Lang::Fr));
        assert_eq!(plan.session.origin.as_deref(), Some(APP));
        assert_eq!(plan.expires_at, NOW + MAX_LINK_SECONDS);
        assert_eq!(
            landing(plan.provider.as_ref()),
            "/marketplace/integrations?provider=openai"
        );

        // An owner: their own tenant and themselves by default; never another tenant.
        let own = plan_for_owner(
            serde_json::json!({"return_to": format!("{APP}/settings"), "mode": "page"}),
        );
        let own = own.expect("own");
        assert_eq!(
            (own.tenant.as_str(), own.user.as_str()),
            ("acme", "u-owner")
        );
        assert_eq!(
            own.session.origin.as_deref(),
            Some(APP),
            "origin defaults to return_to's"
        );
        assert!(matches!(
            plan_for_owner(serde_json::json!({"tenant": "globex", "origin": APP})),
            Err(ConnectError::OtherTenant(_))
        ));
        assert!(matches!(
            plan_for_owner(serde_json::json!({"user": "someone-else", "origin": APP})),
            Err(ConnectError::OtherUser)
        ));
        assert!(matches!(
            super::plan(
                &req(serde_json::json!({"origin": APP})),
                caller(Role::Member, &acme, &any),
                &origins(),
                NOW
            ),
            Err(ConnectError::Member)
        ));
        for role in ["platform-admin", "service"] {
            assert!(matches!(
                plan_for_owner(serde_json::json!({"origin": APP, "role": role})),
                Err(ConnectError::Role(_))
            ));
        }
    }

    fn plan_for_owner(json: serde_json::Value) -> Result<LinkPlan, ConnectError> {
        let acme = TenantId::parse("acme").expect("t");
        plan(
            &req(json),
            caller(Role::Owner, &acme, &Scope::unlimited()),
            &origins(),
            NOW,
        )
    }

    #[test]
    fn a_scoped_service_token_mints_only_inside_its_scope() {
        let platform = TenantId::parse("platform").expect("t");
        let scope = Scope::from_claims(Some(&["openai".to_owned()]), Some(&["acme".to_owned()]))
            .expect("scope");
        let ok =
            serde_json::json!({"tenant": "acme", "user": "u", "provider": "openai", "origin": APP});
        assert!(plan(
            &req(ok),
            caller(Role::Service, &platform, &scope),
            &origins(),
            NOW
        )
        .is_ok());
        for bad in [
            serde_json::json!({"tenant": "globex", "user": "u", "origin": APP}),
            serde_json::json!({"tenant": "acme", "user": "u", "provider": "stripe", "origin": APP}),
        ] {
            assert!(matches!(
                plan(
                    &req(bad),
                    caller(Role::Service, &platform, &scope),
                    &origins(),
                    NOW
                ),
                Err(ConnectError::Scope(_))
            ));
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let platform = TenantId::parse("platform").expect("t");
        let any = Scope::unlimited();
        let e = plan(
            &req(serde_json::json!({"return_to": "https://evil.example/steal", "lang": "tlh",
                "theme": {"accent": "red; background: url(x)", "radius": 99, "font": "x}body{color:red"},
                "expires_in": 3600, "provider": "Not A Key"})),
            caller(Role::PlatformAdmin, &platform, &any),
            &origins(),
            NOW,
        )
        .expect_err("invalid");
        assert_eq!(
            fields(e),
            [
                "tenant",
                "user",
                "provider",
                "return_to",
                "lang",
                "theme.accent",
                "theme.radius",
                "theme.font",
                "expires_in"
            ]
        );
        // A popup needs somewhere to post its events.
        let e = plan_for_owner(serde_json::json!({"mode": "popup"})).expect_err("no origin");
        assert_eq!(fields(e), ["origin"]);
        // http is for loopback only, and the list is exact.
        let e =
            plan_for_owner(serde_json::json!({"origin": "http://app.example"})).expect_err("http");
        assert_eq!(fields(e), ["origin"]);
        let e = plan_for_owner(serde_json::json!({"origin": "https://app.example:8443"}))
            .expect_err("port");
        assert_eq!(fields(e), ["origin"]);
    }

    #[test]
    fn origin_lists_hold_origins_only() {
        assert_eq!(
            parse_origins(Some(
                "https://app.example, http://localhost:5173 https://app.example"
            )),
            Ok(vec![APP.to_owned(), "http://localhost:5173".to_owned()])
        );
        assert_eq!(parse_origins(None), Ok(vec![]));
        for bad in [
            "https://app.example/path",
            "http://app.example",
            "app.example",
            "*",
        ] {
            assert!(parse_origins(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_link_that_did_not_open_says_why() {
        assert_eq!(LinkRefusal::classify(None, NOW), LinkRefusal::Unknown);
        assert_eq!(
            LinkRefusal::classify(Some((NOW + 5, Some(NOW - 1))), NOW),
            LinkRefusal::Used
        );
        assert_eq!(
            LinkRefusal::classify(Some((NOW, None)), NOW),
            LinkRefusal::Expired
        );
        assert_eq!(
            LinkRefusal::classify(Some((NOW + 5, None)), NOW),
            LinkRefusal::Used
        );
        assert_eq!(LinkRefusal::Unknown.status(), 404);
    }

    #[test]
    fn languages_follow_the_session_then_accept_language_then_english() {
        assert_eq!(negotiate(Some(Lang::De), Some("fr")), Lang::De);
        assert_eq!(negotiate(None, Some("fr-CH, fr;q=0.9, en;q=0.8")), Lang::Fr);
        assert_eq!(negotiate(None, Some("ja, es;q=0.5, de;q=0.7")), Lang::De);
        assert_eq!(negotiate(None, Some("ja, zh")), Lang::En);
        assert_eq!(negotiate(None, Some("fr;q=0, es")), Lang::Es);
        assert_eq!(negotiate(None, None), Lang::En);
    }

    proptest! {
        /// Whatever the theme's text, a theme that passes the check holds nothing a style
        /// sheet would read as more than one value.
        #[test]
        fn an_accepted_theme_cannot_break_out_of_its_property(
            accent in ".{0,12}", font in ".{0,40}", radius in 0u32..40,
        ) {
            let theme = Theme { accent: Some(accent.clone()), radius: Some(radius), font: Some(font.clone()), mode: None };
            if theme.check().is_empty() {
                const BREAKOUT: [char; 9] = [';', '{', '}', '(', ')', ':', '\\', '/', '<'];
                for text in [&accent, &font] {
                    let clean = !text.contains(BREAKOUT);
                    prop_assert!(clean, "{:?}", text);
                }
                prop_assert!(radius <= MAX_RADIUS);
            }
        }

        /// Any Accept-Language header gives one of the four languages.
        #[test]
        fn negotiation_always_lands_on_a_supported_language(header in ".{0,60}") {
            let lang = negotiate(None, Some(&header));
            prop_assert!(Lang::ALL.contains(&lang));
        }
    }
}
