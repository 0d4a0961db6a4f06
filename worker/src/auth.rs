//! Who is calling: an HS256 JWT from `Authorization: Bearer` or the `byok_session` cookie,
//! roles, and the Origin check for cookie-authenticated writes (CSRF).

use byok_core::api::ProblemKind;
use byok_core::ids::TenantId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use worker::{Method, Request};

use crate::http::{problem, ApiError};

pub const COOKIE: &str = "byok_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Member,
    Owner,
    PlatformAdmin,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Owner => "owner",
            Role::PlatformAdmin => "platform-admin",
            Role::Service => "service",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub exp: u64,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub tenant: TenantId,
    pub role: Role,
    pub via_cookie: bool,
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

/// Verifies the caller's token. Expired, wrongly signed, `alg: none` and malformed tokens
/// are all 401 with a plain reason.
pub fn authenticate(req: &Request, secret: &[u8]) -> Result<Principal, ApiError> {
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
        None => match headers
            .get("cookie")?
            .and_then(|c| cookie_value(&c, COOKIE))
        {
            Some(t) => (t, true),
            None => {
                return Err(problem(
                    ProblemKind::Unauthenticated,
                    "Sign in: send 'Authorization: Bearer <token>' or the byok_session cookie.",
                ))
            }
        },
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 30;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let data =
        jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "The token has expired: sign in again."
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "The token's signature is not valid."
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                        "The token must be signed with HS256."
                    }
                    _ => "The token is malformed or missing claims (sub, tenant, role, exp).",
                };
                problem(ProblemKind::Unauthenticated, why)
            })?;
    let tenant = TenantId::parse(&data.claims.tenant).map_err(|e| {
        problem(
            ProblemKind::Unauthenticated,
            format!("The token's tenant {e}."),
        )
    })?;
    Ok(Principal {
        sub: data.claims.sub,
        tenant,
        role: data.claims.role,
        via_cookie,
    })
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

/// Signs a token (dev login).
pub fn mint(secret: &[u8], claims: &Claims) -> Result<String, ApiError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|_| problem(ProblemKind::Internal, "Could not sign the session token."))
}
