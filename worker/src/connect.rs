//! The connect surface: links that open the pages inside the platform's app.
//!
//! - `POST /v1/connect/sessions` checks the request ([`byok_core::connect::plan`]), stores the
//!   link by the digest of its secret part and answers its URL.
//! - `GET /connect/{token}` opens it once: one conditional update marks it used, then a
//!   session token is minted for the link's tenant and user and handed over as the session
//!   cookie (popup, page) or in the URL fragment (iframe, where third-party cookies are
//!   blocked), and the browser is sent to the page. A link that does not open gets a page in
//!   words, and no session.
//! - `POST /v1/session/sign-out` clears the session cookie.

use byok_core::api::ProblemKind;
use byok_core::auth::{Claims, Role};
use byok_core::connect::{
    landing, parse_origins, plan, Caller, ConnectError, ConnectRequest, LinkPlan, LinkRefusal,
    Mode, CONNECT_ORIGINS, SESSION_SECONDS,
};
use serde::Serialize;
use worker::{Env, Request, Response};

use crate::auth::{mint, Principal, COOKIE, HOST_COOKIE};
use crate::http::{json, problem, read_json, ApiError, ApiResult};
use crate::store::{int, text};
use crate::util::{now_millis, rfc3339, sha256_hex};
use crate::App;

const REQUEST_MAX_BYTES: usize = 8 * 1024;

/// `POST /v1/connect/sessions`' answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectLink {
    /// Open this once, within `expires_at` (a popup, an iframe or the app's own tab).
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
    pub expires_in: u64,
}

/// The platform app's origins (`CONNECT_ORIGINS`), checked.
pub fn connect_origins(env: &Env) -> Result<Vec<String>, ApiError> {
    let raw = env.var(CONNECT_ORIGINS).ok().map(|v| v.to_string());
    parse_origins(raw.as_deref()).map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!("The service is not configured: {CONNECT_ORIGINS}: {e}."),
        )
    })
}

pub(crate) const INSERT_LINK: &str =
    "INSERT INTO connect_links (digest, tenant, plan, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub async fn create(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    let body: ConnectRequest = read_json(req, REQUEST_MAX_BYTES).await?;
    let origins = connect_origins(&app.env)?;
    let now = now_millis() / 1000;
    let caller = Caller {
        role: who.role,
        tenant: &who.tenant,
        sub: &who.sub,
        scope: &who.scope,
    };
    let plan = plan(&body, caller, &origins, now).map_err(|e| match e {
        ConnectError::Invalid(errors) => {
            ApiError::from(byok_core::catalog::ValidationErrors(errors))
        }
        refused => problem(ProblemKind::Forbidden, refused.to_string()),
    })?;
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut crate::util::JsRng, &mut secret);
    let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret);
    let digest = sha256_hex(token.as_bytes());
    let stored = serde_json::to_string(&plan)
        .map_err(|_| problem(ProblemKind::Internal, "Could not store the link."))?;
    app.home()
        .prepare(INSERT_LINK)
        .bind(&[
            text(&digest),
            text(plan.tenant.as_str()),
            text(&stored),
            text(&who.sub),
            int(now as i64),
            int(plan.expires_at as i64),
        ])?
        .run()
        .await?;
    let mut url = req.url()?;
    url.set_path(&format!("/connect/{token}"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(json(
        201,
        &ConnectLink {
            url: url.to_string(),
            expires_at: rfc3339(plan.expires_at * 1000),
            expires_in: plan.expires_at - now,
        },
    )?)
}

pub(crate) const USE_LINK: &str = "UPDATE connect_links SET used_at = ?1
             WHERE digest = ?2 AND used_at IS NULL AND expires_at > ?1
             RETURNING plan";

pub(crate) const LINK_SEEN: &str =
    "SELECT expires_at, used_at FROM connect_links WHERE digest = ?1";

/// `GET /connect/{token}`: opens the link once.
pub async fn open(req: &Request, app: &App, token: &str) -> worker::Result<Response> {
    let now = now_millis() / 1000;
    // The refusal pages may show inside the platform's frame, in the visitor's language.
    let opts = match crate::page_options(req, &app.env) {
        Ok(o) => o,
        Err(ApiError(p)) => return crate::http::problem_response(&p),
    };
    let refusal = |why: LinkRefusal| refusal(why, &opts);
    // A link is 43 base64url characters; anything else was never one of ours.
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return refusal(LinkRefusal::Unknown);
    }
    let digest = sha256_hex(token.as_bytes());
    let opened = app
        .home()
        .prepare(USE_LINK)
        .bind(&[int(now as i64), text(&digest)])?
        .first::<PlanRow>(None)
        .await?;
    let Some(row) = opened else {
        let seen = app
            .home()
            .prepare(LINK_SEEN)
            .bind(&[text(&digest)])?
            .first::<SeenRow>(None)
            .await?;
        let why = LinkRefusal::classify(
            seen.map(|s| {
                (
                    s.expires_at.max(0) as u64,
                    s.used_at.map(|u| u.max(0) as u64),
                )
            }),
            now,
        );
        return refusal(why);
    };
    let Ok(plan) = serde_json::from_str::<LinkPlan>(&row.plan) else {
        worker::console_error!("a stored connect link could not be read");
        return crate::http::problem_response(&byok_core::api::Problem::new(
            ProblemKind::Internal,
            "The link could not be opened. Go back to the app and open the integrations again.",
        ));
    };
    let auth = app.auth.borrow();
    let settings = auth.settings();
    let claims = Claims {
        sub: plan.user.clone(),
        tenant: plan.tenant.as_str().to_owned(),
        role: plan.role,
        exp: now + SESSION_SECONDS,
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        providers: None,
        tenants: None,
        session: Some(plan.session.clone()),
    };
    let session = match mint(settings, &claims) {
        Ok(token) => token,
        Err(ApiError(p)) => return crate::http::problem_response(&p),
    };
    drop(auth);
    debug_assert!(matches!(plan.role, Role::Owner | Role::Member));
    let to = landing(plan.provider.as_ref());
    let resp = Response::empty()?.with_status(303);
    let h = resp.headers();
    h.set("cache-control", "no-store")?;
    h.set("referrer-policy", "no-referrer")?;
    match plan.session.mode {
        Mode::Iframe => h.set("location", &format!("{to}#session={session}"))?,
        Mode::Popup | Mode::Page => {
            h.set("location", &to)?;
            h.set("set-cookie", &session_cookie(req, app, &session)?)?;
        }
    }
    Ok(resp)
}

/// The session cookie: `__Host-` (Secure, HttpOnly, SameSite=Lax, Path=/) in production; on
/// a local dev server over plain HTTP, the dev cookie the dev login sets.
fn session_cookie(req: &Request, app: &App, token: &str) -> worker::Result<String> {
    let local = app.dev_mode && crate::dev::is_loopback(&req.url()?);
    Ok(if local {
        format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={SESSION_SECONDS}")
    } else {
        format!(
            "{HOST_COOKIE}={token}; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age={SESSION_SECONDS}"
        )
    })
}

/// `POST /v1/session/sign-out`: both cookie names cleared; a page holding its session (iframe
/// mode) forgets it itself. Another site cannot sign the visitor out (Origin must be ours
/// when sent).
pub fn sign_out(req: &Request) -> ApiResult {
    let own = req.url()?.origin().ascii_serialization();
    if req.headers().get("origin")?.is_some_and(|o| o != own) {
        return Err(problem(
            ProblemKind::Forbidden,
            "Cross-site request refused: the Origin header does not match this site.",
        ));
    }
    let resp = crate::http::empty(204)?;
    let h = resp.headers();
    h.append(
        "set-cookie",
        &format!("{HOST_COOKIE}=; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    )?;
    h.append(
        "set-cookie",
        &format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    )?;
    Ok(resp)
}

#[derive(serde::Deserialize)]
struct PlanRow {
    plan: String,
}

#[derive(serde::Deserialize)]
struct SeenRow {
    expires_at: i64,
    used_at: Option<i64>,
}

/// A page that says why the link did not open (no session is created).
fn refusal(why: LinkRefusal, opts: &crate::web::PageOptions) -> worker::Result<Response> {
    let (heading, explanation) = why.words();
    let reason = match why {
        LinkRefusal::Unknown => "unknown",
        LinkRefusal::Used => "used",
        LinkRefusal::Expired => "expired",
    };
    let page = crate::web::message_page(reason, opts.lang, heading, explanation);
    let resp = Response::from_html(page)?.with_status(why.status());
    crate::web::page_headers(resp.headers(), opts)?;
    resp.headers().set("cache-control", "no-store")?;
    Ok(resp)
}

pub(crate) const PURGE_LINKS: &str = "DELETE FROM connect_links WHERE digest IN
               (SELECT digest FROM connect_links WHERE expires_at < ?1 LIMIT 500)";

/// Deletes links a day past their expiry, in bounded batches (the cron calls this).
pub async fn sweep(db: &worker::D1Database, now: u64) -> worker::Result<u32> {
    let r = db
        .prepare(PURGE_LINKS)
        .bind(&[int(now.saturating_sub(86_400) as i64)])?
        .run()
        .await?;
    Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0) as u32)
}
