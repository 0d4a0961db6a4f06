//! Google's OAuth token endpoint (JWT bearer grant, RS256) and Calendar API.
//! <https://developers.google.com/identity/protocols/oauth2/service-account>

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::extract::Form;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::{bearer, common, json_response, Scenario};

/// Public keys of the service accounts the fake knows, by client email.
fn keys() -> &'static Mutex<HashMap<String, RsaPublicKey>> {
    static KEYS: OnceLock<Mutex<HashMap<String, RsaPublicKey>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// Makes a service account known to the fake token endpoint (its public key, SPKI PEM).
pub fn register_service_account(client_email: &str, public_key_pem: &str) -> Result<(), String> {
    let key = RsaPublicKey::from_public_key_pem(public_key_pem).map_err(|e| e.to_string())?;
    keys()
        .lock()
        .map_err(|_| "poisoned".to_owned())?
        .insert(client_email.to_owned(), key);
    Ok(())
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

pub(crate) async fn token(Form(form): Form<HashMap<String, String>>) -> Response {
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: ");
    }
    let Some(jwt) = form.get("assertion") else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let decode = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let (Some(header), Some(claims)) = (
        parts.first().and_then(|p| decode(p)),
        parts.get(1).and_then(|p| decode(p)),
    ) else {
        return oauth_error(400, "invalid_grant", "Invalid JWT: could not parse");
    };
    if parts.len() != 3 || header["alg"] != "RS256" {
        return oauth_error(400, "invalid_grant", "Invalid JWT: unsupported algorithm");
    }
    let iss = claims["iss"].as_str().unwrap_or_default().to_owned();
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if exp <= iat
        || exp - iat > 3600
        || claims["aud"]
            .as_str()
            .is_none_or(|a| !a.ends_with("/token"))
    {
        return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or_default()
        .contains("https://www.googleapis.com/auth/calendar")
    {
        return oauth_error(
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let known = keys().lock().ok().and_then(|k| k.get(&iss).cloned());
    let Some(public) = known else {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok());
    let verified = signature.is_some_and(|sig| {
        VerifyingKey::<Sha256>::new(public)
            .verify(signed.as_bytes(), &sig)
            .is_ok()
    });
    if !verified {
        return oauth_error(400, "invalid_grant", "Invalid JWT Signature.");
    }
    let scenario = Scenario::of(&iss);
    if let Some(r) = common(scenario).await {
        return r;
    }
    match scenario {
        Scenario::Down => json_response(
            503,
            json!({"error": "internal_failure", "error_description": "Backend Error"}),
        ),
        _ => json_response(
            200,
            json!({"access_token": format!("ya29.fake-{}", iss.split('@').next().unwrap_or_default()),
                   "expires_in": 3599, "token_type": "Bearer"}),
        ),
    }
}

fn api_error(status: u16, message: &str, reason: &str, state: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}], "status": state}}),
    )
}

pub(crate) async fn calendar_list(headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers).filter(|t| t.starts_with("ya29.fake-")) else {
        return api_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "authError", "UNAUTHENTICATED");
    };
    match Scenario::of(token) {
        Scenario::NoScope => api_error(403, "Google Calendar API has not been used in project 123456 before or it is disabled. Enable it by visiting the API Library, then retry.", "accessNotConfigured", "PERMISSION_DENIED"),
        Scenario::RateLimit => api_error(429, "Rate Limit Exceeded", "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
        Scenario::Empty => json_response(200, json!({"kind": "calendar#calendarList", "etag": "\"p1\"", "items": []})),
        _ => json_response(
            200,
            json!({"kind": "calendar#calendarList", "etag": "\"p1\"", "items": [
                {"kind": "calendar#calendarListEntry", "id": "team@acme.example", "summary": "Team calendar", "accessRole": "writer"}
            ]}),
        ),
    }
}
