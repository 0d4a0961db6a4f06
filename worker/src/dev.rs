//! `GET /dev/login?tenant=T&role=R`: a session cookie for local development. Routed only when
//! the `DEV_MODE` var is `"true"`; it does not exist otherwise.

use byok_core::api::ProblemKind;
use byok_core::ids::TenantId;
use worker::Request;

use crate::auth::{mint, Claims, Role, COOKIE};
use crate::http::{json, problem, ApiResult};
use crate::util::now_millis;
use crate::App;

const SESSION_SECONDS: u64 = 12 * 3600;

pub fn login(req: &Request, app: &App) -> ApiResult {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let tenant = param("tenant").unwrap_or_else(|| "demo".into());
    let tenant = TenantId::parse(&tenant)
        .map_err(|e| problem(ProblemKind::ValidationFailed, format!("tenant {e}")))?;
    let role_name = param("role").unwrap_or_else(|| "owner".into());
    let role = Role::parse(&role_name).ok_or_else(|| {
        problem(
            ProblemKind::ValidationFailed,
            "role must be member, owner, platform-admin or service",
        )
    })?;
    let sub = param("sub").unwrap_or_else(|| format!("dev-{}", role.as_str()));
    let claims = Claims {
        sub,
        tenant: tenant.as_str().to_owned(),
        role,
        exp: now_millis() / 1000 + SESSION_SECONDS,
    };
    let token = mint(&app.auth_secret, &claims)?;
    let resp = json(
        200,
        &serde_json::json!({"tenant": tenant, "role": role, "sub": claims.sub, "expires_in": SESSION_SECONDS}),
    )?;
    resp.headers().set(
        "set-cookie",
        &format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={SESSION_SECONDS}"),
    )?;
    Ok(resp)
}
