//! `GET /dev/login?tenant=T&role=R[&next=/path]`: a session cookie for local development.
//! Routed only when the `DEV_MODE` var is `"true"`, `AUTH_ISSUER` is the dev issuer
//! (`byok-dev`, which script/deploy refuses) *and* the request's host is loopback (`127.0.0.1`,
//! `[::1]`, `localhost`); it does not exist otherwise ([`byok_core::auth::dev_login_open`]).
//! The host alone would not do: a Worker calling over a service binding writes any URL it
//! likes, so a deployment that carried `DEV_MODE` by mistake is kept shut by its real issuer.
//! With `next` (a path on
//! this site) it answers 303 to that page, which is how the pages sign in.

use byok_core::api::ProblemKind;
use byok_core::ids::TenantId;
use worker::{Request, Response};

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
    let next = param("next")
        .map(|n| {
            local_path(&n).map(str::to_owned).ok_or_else(|| {
                problem(
                    ProblemKind::ValidationFailed,
                    "next must be a path on this site, such as /settings/integrations",
                )
            })
        })
        .transpose()?;
    let sub = param("sub").unwrap_or_else(|| format!("dev-{}", role.as_str()));
    let auth = app.auth.borrow();
    let claims = Claims {
        sub,
        tenant: tenant.as_str().to_owned(),
        role,
        exp: now_millis() / 1000 + SESSION_SECONDS,
        iss: auth.settings().issuer.clone(),
        aud: auth.settings().audience.clone(),
        providers: None,
        tenants: None,
        session: None,
    };
    let token = mint(auth.settings(), &claims)?;
    drop(auth);
    let resp = if let Some(next) = next {
        let resp = Response::empty()?.with_status(303);
        resp.headers().set("location", &next)?;
        resp
    } else {
        json(
            200,
            &serde_json::json!({"tenant": tenant, "role": role, "sub": claims.sub, "expires_in": SESSION_SECONDS}),
        )?
    };
    resp.headers().set(
        "set-cookie",
        &format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={SESSION_SECONDS}"),
    )?;
    Ok(resp)
}

/// Whether the request was addressed to this machine's loopback interface.
pub fn is_loopback(url: &worker::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `next` when it is a path on this site: no scheme, no host, no `//` or `\\` that a browser
/// would read as another origin.
fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::{is_loopback, local_path};

    #[test]
    fn only_loopback_hosts_are_local() {
        for local in [
            "http://127.0.0.1:8787/dev/login",
            "http://127.8.9.10/dev/login",
            "http://localhost:8787/dev/login",
            "http://LOCALHOST/dev/login",
            "http://[::1]:8787/dev/login",
        ] {
            assert!(is_loopback(&local.parse().expect("url")), "{local}");
        }
        for remote in [
            "https://byok.example.com/dev/login",
            "http://localhost.example.com/dev/login",
            "http://10.0.0.1/dev/login",
            "http://0.0.0.0/dev/login",
            "http://[::ffff:7f00:1]/dev/login",
        ] {
            assert!(!is_loopback(&remote.parse().expect("url")), "{remote}");
        }
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            local_path("/settings/integrations"),
            Some("/settings/integrations")
        );
        assert_eq!(
            local_path("/marketplace/integrations?q=ai"),
            Some("/marketplace/integrations?q=ai")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
