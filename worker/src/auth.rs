//! Who is calling: an HS256 JWT from `Authorization: Bearer` or the `byok_session` cookie,
//! checked against its role's secret, issuer and audience (`byok_core::auth`), and the Origin
//! check for cookie-authenticated writes (CSRF).

use byok_core::api::ProblemKind;
pub use byok_core::auth::Role;
use byok_core::auth::{role_allowed, AuthSettings, Signer};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::scope::Scope;
use byok_core::verifier::Verifier;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::cell::RefCell;
use worker::{Method, Request};

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
}

/// `GET /v1/me`: who the session belongs to, so that pages can show what the role allows
/// (an HttpOnly cookie cannot be read by the page itself).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub sub: String,
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub role: Role,
}

pub fn me(who: &Principal) -> crate::http::ApiResult {
    Ok(crate::http::json(
        200,
        &Me {
            sub: who.sub.clone(),
            tenant: who.tenant.clone(),
            role: who.role,
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
pub fn authenticate(
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
    let (claims, signer) = verify(&token, verifier)?;
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
    })
}

/// The token's claims and which secret verified it ([`byok_core::auth::verify_token`], at
/// this isolate's clock; a token seen before is recognised by its digest).
fn verify(token: &str, verifier: &RefCell<Verifier>) -> Result<(Claims, Signer), ApiError> {
    verifier
        .borrow_mut()
        .verify(token, crate::util::now_millis() / 1000)
        .map_err(|e| problem(ProblemKind::Unauthenticated, e.to_string()))
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
