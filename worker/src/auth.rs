//! Who is calling: a JWT from `Authorization: Bearer` or the `byok_session` cookie, either
//! HS256 under its role's secret (`byok_core::auth`) or signed by the platform's identity
//! provider and checked against its key set (`byok_core::idp`; this module only fetches the
//! set when the verifier asks), and the Origin check for cookie-authenticated writes (CSRF).

use byok_core::api::ProblemKind;
pub use byok_core::auth::Role;
use byok_core::auth::TokenError;
use byok_core::auth::{role_allowed, AuthSettings, Signer};
use byok_core::connect::{Lang, SessionInfo};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::scope::Scope;
use byok_core::verifier::{Outcome, Verifier};
use futures_util::future::{select, Either};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::cell::RefCell;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Method, Request, RequestInit};

use crate::http::{problem, ApiError};

pub const COOKIE: &str = "byok_session";
/// The production name of the session cookie: `__Host-` makes browsers accept it only when
/// `Secure`, without `Domain`, and with `Path=/`, so no sibling subdomain can set or shadow it.
pub const HOST_COOKIE: &str = "__Host-byok_session";

pub use byok_core::auth::Claims;

#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub tenant: TenantId,
    pub role: Role,
    pub via_cookie: bool,
    /// What the token may reach (`providers`, `tenants` claims; service tokens only).
    pub scope: Scope,
    /// A session opened by a connect link: its language, theme and embedding.
    pub session: Option<SessionInfo>,
}

/// `GET /v1/me`: who the session belongs to, so that pages can show what the role allows
/// (an HttpOnly cookie cannot be read by the page itself).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub sub: String,
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub role: Role,
    /// The pages' language: the session's, else the best of `Accept-Language`, else English.
    pub lang: Lang,
    /// Present when the session was opened by a connect link: where events go, the theme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<SessionInfo>,
}

pub fn me(req: &Request, who: &Principal) -> crate::http::ApiResult {
    let accept = req.headers().get("accept-language")?;
    let session_lang = who.session.as_ref().and_then(|s| s.lang);
    Ok(crate::http::json(
        200,
        &Me {
            sub: who.sub.clone(),
            tenant: who.tenant.clone(),
            role: who.role,
            lang: byok_core::connect::negotiate(session_lang, accept.as_deref()),
            connect: who.session.clone(),
        },
    )?)
}

impl Principal {
    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(problem(
                ProblemKind::Forbidden,
                format!(
                    "This needs the role {}; your token has '{}'.",
                    names.join(" or "),
                    self.role.as_str()
                ),
            ))
        }
    }

    /// Refuses a tenant or provider outside the token's scope (403 naming the claim).
    pub fn require_scope(&self, tenant: &TenantId, provider: &ProviderKey) -> Result<(), ApiError> {
        self.scope
            .allows(tenant, provider)
            .map_err(|e| problem(ProblemKind::Forbidden, e.to_string()))
    }

    /// Tenant-scoped routes: members and owners of the tenant in the token.
    pub fn require_tenant_user(&self) -> Result<(), ApiError> {
        self.require(&[Role::Member, Role::Owner])
    }
}

fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Verifies the caller's token: signed (HS256) with the secret of the role it carries, issued
/// by the configured issuer for the configured audience, not expired. Expired, wrongly signed,
/// `alg: none`, foreign and malformed tokens are all 401 with a plain reason.
///
/// The cookie is `__Host-byok_session`; the plain `byok_session` (what `/dev/login` sets over
/// plain HTTP) only with `dev_cookie`, i.e. under `DEV_MODE`. In production a cookie without
/// the prefix could have been planted by a sibling subdomain, so it is never read.
pub async fn authenticate(
    req: &Request,
    verifier: &RefCell<Verifier>,
    dev_cookie: bool,
) -> Result<Principal, ApiError> {
    let headers = req.headers();
    let (token, via_cookie) = match headers.get("authorization")? {
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) => (t.trim().to_owned(), false),
            None => {
                return Err(problem(
                    ProblemKind::Unauthenticated,
                    "The Authorization header must be 'Bearer <token>'.",
                ))
            }
        },
        None => match headers.get("cookie")?.and_then(|c| {
            cookie_value(&c, HOST_COOKIE)
                .or_else(|| dev_cookie.then(|| cookie_value(&c, COOKIE)).flatten())
        }) {
            Some(t) => (t, true),
            None => {
                return Err(problem(
                    ProblemKind::Unauthenticated,
                    if dev_cookie {
                        "Sign in: send 'Authorization: Bearer <token>' or the __Host-byok_session (or, locally, byok_session) cookie."
                    } else {
                        "Sign in: send 'Authorization: Bearer <token>' or the __Host-byok_session cookie."
                    },
                ))
            }
        },
    };
    let (claims, signer) = verify(&token, verifier).await?;
    role_allowed(claims.role, signer)
        .map_err(|e| problem(ProblemKind::Unauthenticated, format!("Refused: {e}.")))?;
    if via_cookie && claims.role == Role::Service {
        return Err(problem(
            ProblemKind::Unauthenticated,
            "Service tokens are sent as 'Authorization: Bearer', never as a cookie.",
        ));
    }
    let scope = Scope::from_claims(claims.providers.as_deref(), claims.tenants.as_deref())
        .map_err(|e| problem(ProblemKind::Unauthenticated, e.to_string()))?;
    if claims.role != Role::Service && scope != Scope::unlimited() {
        // A limit the routes would not apply must not look like one.
        return Err(problem(
            ProblemKind::Unauthenticated,
            "The 'providers' and 'tenants' claims limit service tokens only; this token's role is not 'service'.",
        ));
    }
    let tenant = TenantId::parse(&claims.tenant).map_err(|e| {
        problem(
            ProblemKind::Unauthenticated,
            format!("The token's tenant {e}."),
        )
    })?;
    Ok(Principal {
        sub: claims.sub,
        tenant,
        role: claims.role,
        via_cookie,
        scope,
        session: claims.session,
    })
}

/// How long the identity provider has to answer for its key set.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// The token's claims and which key verified it, at this isolate's clock
/// ([`Verifier::check`]): fetching the identity provider's key set when the verifier asks,
/// at most once per request (the verifier's floor keeps the second ask from coming).
async fn verify(token: &str, verifier: &RefCell<Verifier>) -> Result<(Claims, Signer), ApiError> {
    for _ in 0..2 {
        let now = crate::util::now_millis() / 1000;
        let outcome = verifier.borrow_mut().check(token, now);
        match outcome {
            Outcome::Verified(claims, signer) => return Ok((*claims, signer)),
            Outcome::Refused(TokenError::KeysUnavailable) => break,
            Outcome::Refused(e) => {
                return Err(problem(ProblemKind::Unauthenticated, e.to_string()))
            }
            Outcome::FetchKeys => {
                let url = verifier.borrow().jwks_url().map(str::to_owned);
                let Some(url) = url else { break };
                match fetch_keys(&url).await {
                    Ok((body, cache_control)) => {
                        let at = crate::util::now_millis() / 1000;
                        if let Err(e) =
                            verifier
                                .borrow_mut()
                                .keys_fetched(&body, cache_control.as_deref(), at)
                        {
                            worker::console_error!(
                                "the identity provider's key set is unusable: {e}"
                            );
                        }
                    }
                    Err(why) => {
                        worker::console_error!(
                            "could not fetch the identity provider's key set: {why}"
                        );
                        verifier
                            .borrow_mut()
                            .keys_unavailable(crate::util::now_millis() / 1000);
                    }
                }
            }
        }
    }
    Err(problem(
        ProblemKind::IdentityProviderUnavailable,
        TokenError::KeysUnavailable.to_string(),
    ))
}

/// GETs the key set: its body (at most [`byok_core::idp::MAX_JWKS_BYTES`]) and
/// `Cache-Control`. Any status but 200, a timeout or a network error is a failure, in words.
async fn fetch_keys(url: &str) -> Result<(Vec<u8>, Option<String>), String> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut init = RequestInit::new();
        init.with_method(Method::Get);
        let req = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        req.headers()
            .set("accept", "application/json")
            .map_err(|e| e.to_string())?;
        let mut resp = Fetch::Request(req)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("HTTP {}", resp.status_code()));
        }
        let cache_control = resp.headers().get("cache-control").ok().flatten();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > byok_core::idp::MAX_JWKS_BYTES {
            return Err("the key set is too large".into());
        }
        Ok((body, cache_control))
    };
    let timer = Delay::from(JWKS_TIMEOUT);
    futures_util::pin_mut!(exchange);
    match select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} s", JWKS_TIMEOUT.as_secs()))
        }
    }
}

/// A state-changing request carried by the session cookie must come from this origin.
pub fn check_origin(req: &Request, principal: &Principal) -> Result<(), ApiError> {
    if !principal.via_cookie || matches!(req.method(), Method::Get | Method::Head | Method::Options)
    {
        return Ok(());
    }
    let url = req.url()?;
    let own = url.origin().ascii_serialization();
    match req.headers().get("origin")? {
        Some(origin) if origin == own => Ok(()),
        _ => Err(problem(
            ProblemKind::Forbidden,
            "Cross-site request refused: the Origin header does not match this site.",
        )),
    }
}

/// Signs a token (dev login) with the secret of its role.
pub fn mint(settings: &AuthSettings, claims: &Claims) -> Result<String, ApiError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(settings.secret(claims.role.signer())),
    )
    .map_err(|_| problem(ProblemKind::Internal, "Could not sign the session token."))
}
