//! Google's OAuth token endpoint (JWT bearer grant, RS256) and Calendar API.
//! <https://developers.google.com/identity/protocols/oauth2/service-account>

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::extract::{Form, Path};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::Value;
use sha2::Sha256;

use crate::{bearer, chosen, common, serve, serve_case, Scenario};

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

const FIXTURE: &str = "google-calendar";

pub(crate) async fn token(Form(form): Form<HashMap<String, String>>) -> Response {
    let refuse = |id: &str| serve_case(FIXTURE, id, &[]);
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("token/unsupported-grant-type");
    }
    let Some(jwt) = form.get("assertion") else {
        return refuse("token/missing-assertion");
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
        return refuse("token/unparsable-jwt");
    };
    if parts.len() != 3 || header["alg"] != "RS256" {
        return refuse("token/unparsable-jwt");
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
        return refuse("token/bad-timeframe");
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or_default()
        .contains("https://www.googleapis.com/auth/calendar")
    {
        return refuse("token/invalid-scope");
    }
    let known = keys().lock().ok().and_then(|k| k.get(&iss).cloned());
    let Some(public) = known else {
        return refuse("token/account-not-found");
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
        return refuse("token/invalid-signature");
    }
    let scenario = Scenario::of(&iss);
    if let Some(r) = common(scenario).await {
        return r;
    }
    let who = iss.split('@').next().unwrap_or_default();
    serve(FIXTURE, "token", chosen(scenario, &iss), &[("who", who)])
}

/// The access token the fake issued, which carries the account's keyword (`ya29.fake-<who>`).
fn access_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).filter(|t| t.starts_with("ya29.fake-"))
}

pub(crate) async fn calendar_list(headers: HeaderMap) -> Response {
    let Some(token) = access_token(&headers) else {
        return serve_case(FIXTURE, "calendar-list/unauthenticated", &[]);
    };
    serve(FIXTURE, "calendar-list", token, &[])
}

/// `calendars.get`: the fake knows one calendar, `team@acme.example`, shared with every
/// service account except `noshare`'s (and `-noshare-` tokens); any other id is not found.
pub(crate) async fn calendar(Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some(token) = access_token(&headers) else {
        return serve_case(FIXTURE, "calendar/unauthenticated", &[]);
    };
    if id != "team@acme.example" {
        return serve_case(FIXTURE, "calendar/not-found", &[("id", &id)]);
    }
    serve(FIXTURE, "calendar", token, &[("id", &id)])
}
