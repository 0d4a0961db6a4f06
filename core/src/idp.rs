//! Tokens from the platform's identity provider (Auth0, Clerk, WorkOS, Cognito, Firebase,
//! Keycloak…): RS256, ES256 and EdDSA tokens checked against the provider's published key set
//! (JWKS), beside the HS256 tokens of [`crate::auth`].
//!
//! Everything here is a decision without I/O; the Worker only fetches the key set when
//! [`Idp::check`] asks for it ([`Check::FetchKeys`]) and hands the answer back
//! ([`Idp::fetched`], [`Idp::fetch_failed`]).
//!
//! - **The key decides the algorithm.** The token's `kid` picks a key of the set; the key's
//!   `alg` (or, when the key names none, its type and curve) is the only algorithm accepted.
//!   A header saying otherwise (`none`, `HS256` over an RSA key's public bytes) is refused.
//! - **Keys are cached** for the key set's `Cache-Control: max-age`, at most an hour and at
//!   least the refetch floor. An unknown `kid` fetches the set again, but never sooner than
//!   the floor after the last fetch, so a flood of made-up `kid`s costs the identity provider
//!   at most one request per floor per isolate. A failed fetch keeps the cached keys in use;
//!   with none cached, tokens are refused as "keys unavailable" (503), not as invalid.
//! - **Claims are mapped**: the claim that carries the tenant and the one that carries the
//!   role are settings (`org_id`, `https://example.com/roles`, `realm_access.roles`), and the
//!   provider's role names map to ours. A token whose roles map to none is refused.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::auth::{Claims, Role, TokenError, LEEWAY_SECONDS};

/// The settings this module reads (Worker vars).
pub const AUTH_JWKS_URL: &str = "AUTH_JWKS_URL";
pub const AUTH_JWKS_ISSUER: &str = "AUTH_JWKS_ISSUER";
pub const AUTH_JWKS_AUDIENCE: &str = "AUTH_JWKS_AUDIENCE";
pub const AUTH_TENANT_CLAIM: &str = "AUTH_TENANT_CLAIM";
pub const AUTH_ROLE_CLAIM: &str = "AUTH_ROLE_CLAIM";
pub const AUTH_ROLE_MAP: &str = "AUTH_ROLE_MAP";
pub const AUTH_JWKS_REFETCH_SECONDS: &str = "AUTH_JWKS_REFETCH_SECONDS";

/// The longest a fetched key set is trusted without asking again.
pub const MAX_CACHE_SECONDS: u64 = 3600;
/// The default floor between two fetches of the key set (per isolate).
pub const DEFAULT_REFETCH_SECONDS: u64 = 30;
/// How long a key set is kept when its response says nothing about caching.
pub const DEFAULT_CACHE_SECONDS: u64 = 600;
/// The largest key set accepted (bytes); real ones are a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The tenant of a platform admin whose token names none.
pub const PLATFORM_TENANT: &str = "platform";

/// Why the identity-provider settings are unusable. Names the setting and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdpConfigError {
    #[error("{AUTH_JWKS_URL} must be an https URL (http only for a loopback host): {0}")]
    Url(String),
    #[error("{AUTH_ROLE_MAP} must be a JSON object from the identity provider's role names to member, owner or platform-admin: {0}")]
    RoleMap(String),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{AUTH_JWKS_REFETCH_SECONDS} must be a whole number of seconds from 1 to 3600")]
    Floor,
}

/// Where the key set is and how tokens' claims map to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpConfig {
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    pub tenant_claim: String,
    pub role_claim: String,
    /// The provider's role name → ours (never `service`).
    pub role_map: BTreeMap<String, Role>,
    pub refetch_floor: u64,
}

/// The settings as the environment gives them (`None`: unset).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdpValues<'a> {
    pub jwks_url: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub tenant_claim: Option<&'a str>,
    pub role_claim: Option<&'a str>,
    pub role_map: Option<&'a str>,
    pub refetch_seconds: Option<&'a str>,
}

impl IdpConfig {
    /// `Ok(None)` when no key set is configured (HS256 tokens only). The issuer and audience
    /// default to the HS256 ones (`AUTH_ISSUER`, `AUTH_AUDIENCE`).
    pub fn from_values(
        v: IdpValues<'_>,
        default_issuer: &str,
        default_audience: &str,
    ) -> Result<Option<Self>, IdpConfigError> {
        let Some(raw_url) = v.jwks_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let url = url::Url::parse(raw_url).map_err(|e| IdpConfigError::Url(e.to_string()))?;
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(IdpConfigError::Url(format!("'{raw_url}'")));
        }
        let named = |setting: &'static str, value: Option<&str>, default: &str| {
            let value = value.map(str::trim).unwrap_or(default).to_owned();
            if value.is_empty() {
                Err(IdpConfigError::Empty(setting))
            } else {
                Ok(value)
            }
        };
        let role_map = match v.role_map.map(str::trim).filter(|m| !m.is_empty()) {
            None => [Role::Member, Role::Owner, Role::PlatformAdmin]
                .into_iter()
                .map(|r| (r.as_str().to_owned(), r))
                .collect(),
            Some(text) => parse_role_map(text)?,
        };
        let refetch_floor = match v.refetch_seconds.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_REFETCH_SECONDS,
            Some(s) => match s.parse::<u64>() {
                Ok(n @ 1..=MAX_CACHE_SECONDS) => n,
                _ => return Err(IdpConfigError::Floor),
            },
        };
        Ok(Some(Self {
            jwks_url: url.to_string(),
            issuer: named(AUTH_JWKS_ISSUER, v.issuer, default_issuer)?,
            audience: named(AUTH_JWKS_AUDIENCE, v.audience, default_audience)?,
            tenant_claim: named(AUTH_TENANT_CLAIM, v.tenant_claim, "tenant")?,
            role_claim: named(AUTH_ROLE_CLAIM, v.role_claim, "role")?,
            role_map,
            refetch_floor,
        }))
    }
}

fn parse_role_map(text: &str) -> Result<BTreeMap<String, Role>, IdpConfigError> {
    let raw: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| IdpConfigError::RoleMap(e.to_string()))?;
    if raw.is_empty() {
        return Err(IdpConfigError::RoleMap("it maps no role".into()));
    }
    raw.into_iter()
        .map(|(theirs, ours)| match Role::parse(&ours) {
            Some(Role::Service) | None => Err(IdpConfigError::RoleMap(format!(
                "'{theirs}' maps to '{ours}'"
            ))),
            Some(role) => Ok((theirs, role)),
        })
        .collect()
}

/// One verification key of the set, with the one algorithm it verifies.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: String,
    pub alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({}, {:?})", self.kid, self.alg)
    }
}

/// Why a fetched key set cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the key set is not a JWKS document: {0}")]
    Malformed(String),
    #[error("the key set holds no signing key with a kid (RSA, P-256, P-384 or Ed25519)")]
    NoUsableKey,
}

/// The algorithm a key verifies: its own `alg` when it names one we accept, else the one its
/// type and curve imply. Symmetric (`oct`) keys, encryption keys and unknown algorithms give
/// `None`: such a key verifies nothing.
pub fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => return None,
        },
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let Some(named) = jwk.common.key_algorithm else {
        return Some(implied);
    };
    let named = match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    };
    // The named algorithm must belong to the key's family (an RSA key saying ES256 is broken).
    let family = |a: Algorithm| match a {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => 0,
        Algorithm::ES256 | Algorithm::ES384 => 1,
        Algorithm::EdDSA => 2,
        _ => 3,
    };
    (family(named) == family(implied) && (family(named) != 1 || named == implied)).then_some(named)
}

/// The signing keys of a JWKS document. Keys without a `kid` or that verify nothing are
/// skipped; a set with none left is an error.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyKey>, JwksError> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    // Parse member by member so that one odd key (an unknown type) does not hide the others.
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| JwksError::Malformed(e.to_string()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwksError::Malformed("it has no 'keys' array".into()))?;
    let mut out = Vec::new();
    for raw in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        let Some(alg) = key_algorithm(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.push(VerifyKey { kid, alg, key });
    }
    if out.is_empty() {
        Err(JwksError::NoUsableKey)
    } else {
        Ok(out)
    }
}

/// How long a key set may be used, from its response's `Cache-Control`: `max-age`, capped at
/// an hour and never under `floor`; `no-store`/`no-cache` count as `floor`; nothing said,
/// [`DEFAULT_CACHE_SECONDS`].
pub fn cache_seconds(cache_control: Option<&str>, floor: u64) -> u64 {
    let Some(header) = cache_control else {
        return DEFAULT_CACHE_SECONDS.clamp(floor, MAX_CACHE_SECONDS.max(floor));
    };
    let mut seconds = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return floor;
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            seconds = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    seconds
        .unwrap_or(DEFAULT_CACHE_SECONDS)
        .clamp(floor, MAX_CACHE_SECONDS.max(floor))
}

/// What the token's header says, read without trusting it: the key id and the algorithm it
/// claims (only compared with the key's, never used to choose one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kid: Option<String>,
    pub alg: String,
}

/// Reads a compact JWT's header. `alg: none` is refused here, in words.
pub fn read_header(token: &str) -> Result<Header, TokenError> {
    let first = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    let alg = v
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?
        .to_owned();
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Unsigned);
    }
    Ok(Header {
        kid: v.get("kid").and_then(Value::as_str).map(str::to_owned),
        alg,
    })
}

/// The cached key set and when it may, or must, be fetched again.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Vec<VerifyKey>,
    /// Until when the keys are fresh (seconds since the epoch).
    fresh_until: u64,
    /// When the last fetch finished, well or badly.
    last_fetch: Option<u64>,
}

/// What to do about a token's `kid`.
#[derive(Debug)]
pub enum Lookup<'a> {
    Use(&'a VerifyKey),
    /// Fetch the key set, then look again.
    Fetch,
    /// The key set is known and does not hold this `kid`; fetching again is not allowed yet.
    Unknown,
    /// No key set is cached and the last fetch failed within the floor.
    Unavailable,
}

impl KeyCache {
    fn floor_passed(&self, now: u64, floor: u64) -> bool {
        self.last_fetch
            .is_none_or(|at| now.saturating_sub(at) >= floor)
    }

    /// The decision for `kid` at `now`.
    pub fn lookup(&self, kid: &str, now: u64, floor: u64) -> Lookup<'_> {
        let known = self.keys.iter().find(|k| k.kid == kid);
        let may_fetch = self.floor_passed(now, floor);
        match known {
            Some(key) if now < self.fresh_until || !may_fetch => Lookup::Use(key),
            Some(_) => Lookup::Fetch,
            None if may_fetch => Lookup::Fetch,
            // Nothing cached and the last fetch (within the floor) failed.
            None if self.keys.is_empty() => Lookup::Unavailable,
            None => Lookup::Unknown,
        }
    }

    /// A fetched key set: replaces the cached one when usable. A set that cannot be used keeps
    /// the old keys, as a failed fetch does.
    pub fn fetched(
        &mut self,
        body: &[u8],
        cache_control: Option<&str>,
        now: u64,
        floor: u64,
    ) -> Result<usize, JwksError> {
        match parse_jwks(body) {
            Ok(keys) => {
                self.keys = keys;
                self.fresh_until = now.saturating_add(cache_seconds(cache_control, floor));
                self.last_fetch = Some(now);
                Ok(self.keys.len())
            }
            Err(e) => {
                self.fetch_failed(now);
                Err(e)
            }
        }
    }

    /// The fetch failed (network, status, timeout): the cached keys stay in use.
    pub fn fetch_failed(&mut self, now: u64) {
        self.last_fetch = Some(now);
    }

    /// The cached key ids, in the set's order.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

/// The value at a claim's name: the top-level member of that exact name (claim names such as
/// `https://example.com/roles` hold dots), else a dotted path (`realm_access.roles`).
pub fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut at = claims;
    for part in name.split('.') {
        at = at.get(part)?;
    }
    Some(at)
}

/// Maps a verified token's claims to ours: `sub`, the tenant claim, the role claim (a string
/// or an array; the highest role any of its names maps to), `exp`, `iss`, `aud`.
pub fn map_claims(claims: &Value, config: &IdpConfig) -> Result<Claims, TokenError> {
    let text = |name: &str| {
        claim(claims, name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let sub = text("sub").ok_or_else(|| TokenError::MissingClaim("sub".into()))?;
    let names: Vec<&str> = match claim(claims, &config.role_claim) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::MissingClaim(config.role_claim.clone())),
    };
    let role = names
        .iter()
        .filter_map(|n| config.role_map.get(*n).copied())
        .max_by_key(|r| rank(*r))
        .ok_or_else(|| TokenError::RoleNotMapped(config.role_claim.clone()))?;
    let tenant = match (text(&config.tenant_claim), role) {
        (Some(t), _) => t,
        (None, Role::PlatformAdmin) => PLATFORM_TENANT.to_owned(),
        (None, _) => return Err(TokenError::MissingClaim(config.tenant_claim.clone())),
    };
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
    Ok(Claims {
        sub,
        tenant,
        role,
        exp,
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        providers: None,
        tenants: None,
        session: None,
    })
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Member => 1,
        Role::Owner => 2,
        Role::PlatformAdmin => 3,
        Role::Service => 0,
    }
}

/// Verifies `token` with `key` (the algorithm is the key's), then the issuer, audience and
/// expiry at `now`, then maps the claims.
pub fn verify_with_key(
    token: &str,
    header: &Header,
    key: &VerifyKey,
    config: &IdpConfig,
    now: u64,
) -> Result<Claims, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let expected = format!("{:?}", key.alg);
    if header.alg != expected {
        return Err(TokenError::KeyAlgorithm {
            token: header.alg.clone(),
            key: expected,
        });
    }
    let mut validation = Validation::new(key.alg);
    validation.validate_exp = false;
    validation.set_issuer(&[config.issuer.as_str()]);
    validation.set_audience(&[config.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| match e
        .kind()
    {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm => TokenError::KeyAlgorithm {
            token: header.alg.clone(),
            key: expected.clone(),
        },
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer(config.issuer.clone()),
        ErrorKind::InvalidAudience => TokenError::WrongAudience(config.audience.clone()),
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        _ => TokenError::Malformed,
    })?;
    let claims = map_claims(&data.claims, config)?;
    if claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The identity provider: its settings and its cached keys.
#[derive(Debug)]
pub struct Idp {
    pub config: IdpConfig,
    cache: KeyCache,
}

/// The outcome of [`Idp::check`].
#[derive(Debug)]
pub enum Check {
    Verified(Box<Claims>),
    Refused(TokenError),
    /// Fetch the key set from [`IdpConfig::jwks_url`], report it, and check again.
    FetchKeys,
}

impl Idp {
    pub fn new(config: IdpConfig) -> Self {
        Self {
            config,
            cache: KeyCache::default(),
        }
    }

    /// Checks a token whose header names a `kid`.
    pub fn check(&self, token: &str, header: &Header, now: u64) -> Check {
        let Some(kid) = header.kid.as_deref() else {
            return Check::Refused(TokenError::Malformed);
        };
        match self.cache.lookup(kid, now, self.config.refetch_floor) {
            Lookup::Use(key) => match verify_with_key(token, header, key, &self.config, now) {
                Ok(claims) => Check::Verified(Box::new(claims)),
                Err(e) => Check::Refused(e),
            },
            Lookup::Fetch => Check::FetchKeys,
            Lookup::Unknown => Check::Refused(TokenError::UnknownKey(kid.to_owned())),
            Lookup::Unavailable => Check::Refused(TokenError::KeysUnavailable),
        }
    }

    /// The key set fetched at `now` (its body and `Cache-Control`). Returns whether the key
    /// ids changed (remembered verifications should then be forgotten).
    pub fn fetched(
        &mut self,
        body: &[u8],
        cache_control: Option<&str>,
        now: u64,
    ) -> Result<bool, JwksError> {
        let before: Vec<String> = self.cache.kids().into_iter().map(str::to_owned).collect();
        self.cache
            .fetched(body, cache_control, now, self.config.refetch_floor)?;
        Ok(self.cache.kids() != before)
    }

    pub fn fetch_failed(&mut self, now: u64) {
        self.cache.fetch_failed(now);
    }

    pub fn cached_kids(&self) -> Vec<&str> {
        self.cache.kids()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header as JwtHeader};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    pub(crate) const NOW: u64 = 1_764_000_000;

    /// Keys made once per test run: an RSA key (RS256), a P-256 key (ES256), an Ed25519 key.
    pub(crate) struct Keys {
        pub rsa: (EncodingKey, Value, Vec<u8>),
        pub ec: (EncodingKey, Value),
        pub ed: (EncodingKey, Value),
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(crate) fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            use rsa::pkcs1::{EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
            use rsa::traits::PublicKeyParts as _;
            let mut rng = rand_core::OsRng;
            let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa");
            let rsa_pub = rsa_key.to_public_key();
            let rsa_jwk = json!({"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
                "n": b64(&rsa_pub.n().to_bytes_be()), "e": b64(&rsa_pub.e().to_bytes_be())});
            let rsa_pub_der = rsa_pub.to_pkcs1_der().expect("der").as_bytes().to_vec();
            let rsa_enc =
                EncodingKey::from_rsa_der(rsa_key.to_pkcs1_der().expect("der").as_bytes());
            let ec_key = p256::ecdsa::SigningKey::random(&mut rng);
            let point = ec_key.verifying_key().to_encoded_point(false);
            let ec_jwk = json!({"kty": "EC", "kid": "ec-1", "crv": "P-256",
                "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))});
            let ec_enc = EncodingKey::from_ec_der(ec_key.to_pkcs8_der().expect("der").as_bytes());
            let ed_key = ed25519_dalek::SigningKey::generate(&mut rng);
            let ed_jwk = json!({"kty": "OKP", "kid": "ed-1", "crv": "Ed25519",
                "x": b64(ed_key.verifying_key().as_bytes())});
            let ed_enc = EncodingKey::from_ed_der(ed_key.to_pkcs8_der().expect("der").as_bytes());
            Keys {
                rsa: (rsa_enc, rsa_jwk, rsa_pub_der),
                ec: (ec_enc, ec_jwk),
                ed: (ed_enc, ed_jwk),
            }
        })
    }

    pub(crate) fn jwks() -> Vec<u8> {
        let k = keys();
        serde_json::to_vec(&json!({"keys": [k.rsa.1, k.ec.1, k.ed.1]})).expect("json")
    }

    pub(crate) fn config() -> IdpConfig {
        IdpConfig::from_values(
            IdpValues {
                jwks_url: Some("https://idp.example/.well-known/jwks.json"),
                issuer: Some("https://idp.example/"),
                tenant_claim: Some("org_id"),
                role_claim: Some("https://example.com/roles"),
                role_map: Some(
                    r#"{"admin": "owner", "viewer": "member", "staff": "platform-admin"}"#,
                ),
                ..IdpValues::default()
            },
            "byok-test",
            "byok",
        )
        .expect("config")
        .expect("configured")
    }

    pub(crate) fn claims() -> Value {
        json!({"sub": "user-1", "org_id": "acme", "https://example.com/roles": ["viewer", "admin"],
            "iss": "https://idp.example/", "aud": "byok", "exp": NOW + 600})
    }

    pub(crate) fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
        let k = keys();
        let key = match alg {
            Algorithm::RS256 => &k.rsa.0,
            Algorithm::ES256 => &k.ec.0,
            Algorithm::EdDSA => &k.ed.0,
            _ => unreachable!(),
        };
        let mut header = JwtHeader::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).expect("sign")
    }

    fn idp_with_keys() -> Idp {
        let mut idp = Idp::new(config());
        idp.fetched(&jwks(), Some("max-age=300"), NOW)
            .expect("jwks");
        idp
    }

    fn check(idp: &Idp, token: &str, now: u64) -> Result<Claims, String> {
        let header = read_header(token).map_err(|e| e.to_string())?;
        match idp.check(token, &header, now) {
            Check::Verified(c) => Ok(*c),
            Check::Refused(e) => Err(e.to_string()),
            Check::FetchKeys => Err("fetch".into()),
        }
    }

    #[test]
    fn rs256_es256_and_eddsa_tokens_verify_and_map_to_our_claims() {
        let idp = idp_with_keys();
        for (alg, kid) in [
            (Algorithm::RS256, "rsa-1"),
            (Algorithm::ES256, "ec-1"),
            (Algorithm::EdDSA, "ed-1"),
        ] {
            let c = check(&idp, &sign(alg, kid, &claims()), NOW).expect("verified");
            assert_eq!((c.sub.as_str(), c.tenant.as_str()), ("user-1", "acme"));
            // viewer → member, admin → owner: the highest wins.
            assert_eq!(c.role, Role::Owner, "{alg:?}");
        }
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        let idp = idp_with_keys();
        let k = keys();
        // alg none, with or without a signature.
        let none = |kid: &str| {
            let h = b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes());
            format!("{h}.{}.", b64(claims().to_string().as_bytes()))
        };
        assert_eq!(
            check(&idp, &none("rsa-1"), NOW),
            Err(TokenError::Unsigned.to_string())
        );
        // HS256 keyed with the RSA public key's bytes (the classic confusion).
        let mut h = JwtHeader::new(Algorithm::HS256);
        h.kid = Some("rsa-1".into());
        let confused =
            jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(&k.rsa.2)).expect("hs");
        let err = check(&idp, &confused, NOW).expect_err("refused");
        assert!(err.contains("HS256") && err.contains("RS256"), "{err}");
        // An EC token presented under the RSA key's kid.
        let swapped = sign(Algorithm::ES256, "rsa-1", &claims());
        assert!(check(&idp, &swapped, NOW).is_err());
        // A valid signature under another key's kid.
        let wrong_kid = sign(Algorithm::EdDSA, "ec-1", &claims());
        assert!(check(&idp, &wrong_kid, NOW).is_err());
    }

    #[test]
    fn issuer_audience_expiry_and_claims_are_required() {
        let idp = idp_with_keys();
        let with = |k: &str, v: Value| {
            let mut c = claims();
            if v.is_null() {
                c.as_object_mut().expect("obj").remove(k);
            } else {
                c[k] = v;
            }
            sign(Algorithm::RS256, "rsa-1", &c)
        };
        let cases = [
            (with("aud", json!("someone-else")), "'aud' must be 'byok'"),
            (with("iss", json!("https://evil.example/")), "'iss' must be"),
            (with("exp", json!(NOW - 100)), "expired"),
            (with("org_id", Value::Null), "'org_id'"),
            (
                with("https://example.com/roles", json!(["guest"])),
                "AUTH_ROLE_MAP",
            ),
            (
                with("https://example.com/roles", Value::Null),
                "https://example.com/roles",
            ),
            (with("sub", Value::Null), "'sub'"),
        ];
        for (token, says) in cases {
            let err = check(&idp, &token, NOW).expect_err("refused");
            assert!(err.contains(says), "{err} should say {says}");
        }
        // A platform admin needs no tenant claim.
        let mut c = claims();
        c["https://example.com/roles"] = json!("staff");
        c.as_object_mut().expect("obj").remove("org_id");
        let admin = check(&idp, &sign(Algorithm::RS256, "rsa-1", &c), NOW).expect("admin");
        assert_eq!(
            (admin.role, admin.tenant.as_str()),
            (Role::PlatformAdmin, PLATFORM_TENANT)
        );
    }

    #[test]
    fn nested_claims_are_found_by_a_dotted_path() {
        let v = json!({"realm_access": {"roles": ["a"]}, "https://x.example/roles": "b"});
        assert_eq!(claim(&v, "realm_access.roles"), Some(&json!(["a"])));
        assert_eq!(claim(&v, "https://x.example/roles"), Some(&json!("b")));
        assert_eq!(claim(&v, "realm_access.missing"), None);
    }

    #[test]
    fn an_unknown_kid_fetches_again_but_not_before_the_floor() {
        let mut idp = idp_with_keys();
        let floor = idp.config.refetch_floor;
        let stranger = sign(Algorithm::RS256, "rsa-2", &claims());
        // Right after a fetch: refused without asking the identity provider.
        assert_eq!(
            check(&idp, &stranger, NOW + 1),
            Err(TokenError::UnknownKey("rsa-2".into()).to_string())
        );
        // Past the floor: fetch once; the set still lacks it, so refused until the next floor.
        assert_eq!(check(&idp, &stranger, NOW + floor), Err("fetch".into()));
        idp.fetched(&jwks(), None, NOW + floor).expect("jwks");
        assert!(check(&idp, &stranger, NOW + floor + 1)
            .expect_err("refused")
            .contains("rsa-2"));
        // Known keys are used until the set goes stale.
        assert!(check(
            &idp,
            &sign(Algorithm::ES256, "ec-1", &claims()),
            NOW + floor + 1
        )
        .is_ok());
    }

    #[test]
    fn an_outage_keeps_the_cached_keys_and_with_none_says_unavailable() {
        let mut cold = Idp::new(config());
        let token = sign(Algorithm::RS256, "rsa-1", &claims());
        assert_eq!(check(&cold, &token, NOW), Err("fetch".into()));
        cold.fetch_failed(NOW);
        assert_eq!(
            check(&cold, &token, NOW + 1),
            Err(TokenError::KeysUnavailable.to_string())
        );
        // Stale keys and a failing identity provider: the cached keys keep working.
        let mut warm = idp_with_keys();
        let stale = NOW + 301;
        assert_eq!(check(&warm, &token, stale), Err("fetch".into()));
        warm.fetch_failed(stale);
        assert!(check(&warm, &token, stale + 1).is_ok());
        // A broken key set is a failed fetch: the old keys stay.
        assert!(warm.fetched(b"<html>", None, stale + 100).is_err());
        assert!(check(&warm, &token, stale + 101).is_ok());
    }

    #[test]
    fn cache_lifetime_follows_max_age_within_the_floor_and_an_hour() {
        assert_eq!(cache_seconds(Some("public, max-age=300"), 30), 300);
        assert_eq!(cache_seconds(Some("max-age=86400"), 30), MAX_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some("max-age=0"), 30), 30);
        assert_eq!(cache_seconds(Some("no-store"), 30), 30);
        assert_eq!(cache_seconds(None, 30), DEFAULT_CACHE_SECONDS);
        assert_eq!(
            cache_seconds(Some("max-age=oops"), 30),
            DEFAULT_CACHE_SECONDS
        );
    }

    #[test]
    fn key_sets_keep_only_signing_keys_with_ids() {
        let k = keys();
        let mut enc = k.rsa.1.clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc-1");
        let mut no_kid = k.ec.1.clone();
        no_kid.as_object_mut().expect("obj").remove("kid");
        let mut lying = k.rsa.1.clone();
        lying["alg"] = json!("ES256");
        lying["kid"] = json!("lying");
        let body = json!({"keys": [enc, no_kid, lying, {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "weird"}, k.ed.1]});
        let keys = parse_jwks(body.to_string().as_bytes()).expect("one usable");
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["ed-1"]);
        assert_eq!(
            parse_jwks(br#"{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}"#).err(),
            Some(JwksError::NoUsableKey)
        );
        assert!(parse_jwks(b"[]").is_err());
        assert_eq!(
            parse_jwks(&vec![b' '; MAX_JWKS_BYTES + 1]).err(),
            Some(JwksError::TooLarge)
        );
    }

    #[test]
    fn settings_are_checked_and_named() {
        let base = IdpValues {
            jwks_url: Some("https://idp.example/jwks"),
            ..IdpValues::default()
        };
        assert_eq!(
            IdpConfig::from_values(IdpValues::default(), "i", "a"),
            Ok(None)
        );
        let c = IdpConfig::from_values(base, "i", "a")
            .expect("ok")
            .expect("some");
        assert_eq!(
            (
                c.issuer.as_str(),
                c.tenant_claim.as_str(),
                c.role_claim.as_str()
            ),
            ("i", "tenant", "role")
        );
        assert_eq!(c.role_map.get("owner"), Some(&Role::Owner));
        assert!(!c.role_map.contains_key("service"));
        for bad in ["http://idp.example/jwks", "ftp://x/", "not a url"] {
            let v = IdpValues {
                jwks_url: Some(bad),
                ..base
            };
            assert!(
                matches!(
                    IdpConfig::from_values(v, "i", "a"),
                    Err(IdpConfigError::Url(_))
                ),
                "{bad}"
            );
        }
        let v = IdpValues {
            jwks_url: Some("http://127.0.0.1:9/jwks"),
            ..base
        };
        assert!(IdpConfig::from_values(v, "i", "a").is_ok());
        for map in [r#"{"bot": "service"}"#, r#"{"x": "root"}"#, "{}", "[1]"] {
            let v = IdpValues {
                role_map: Some(map),
                ..base
            };
            assert!(
                matches!(
                    IdpConfig::from_values(v, "i", "a"),
                    Err(IdpConfigError::RoleMap(_))
                ),
                "{map}"
            );
        }
        for floor in ["0", "-1", "3601", "soon"] {
            let v = IdpValues {
                refetch_seconds: Some(floor),
                ..base
            };
            assert_eq!(
                IdpConfig::from_values(v, "i", "a"),
                Err(IdpConfigError::Floor),
                "{floor}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// However many tokens with made-up `kid`s arrive, and however the clock moves, the
        /// cache asks for the key set at most once per floor after its first fetch.
        #[test]
        fn made_up_kids_fetch_at_most_once_per_floor(
            steps in proptest::collection::vec((0u64..5, "[a-z0-9]{1,8}"), 1..200),
        ) {
            let cfg = config();
            let floor = cfg.refetch_floor;
            let mut cache = KeyCache::default();
            cache.fetched(&jwks(), Some("max-age=3600"), NOW, floor).expect("jwks");
            let mut now = NOW;
            let mut fetches: Vec<u64> = vec![NOW];
            for (advance, kid) in steps {
                now += advance;
                if let Lookup::Fetch = cache.lookup(&format!("x-{kid}"), now, floor) {
                    prop_assert!(now - fetches.last().copied().unwrap_or(0) >= floor);
                    fetches.push(now);
                    cache.fetched(&jwks(), Some("max-age=3600"), now, floor).expect("jwks");
                }
            }
        }

        /// Any change to a signed token's bytes is refused, never verified.
        #[test]
        fn a_tampered_token_never_verifies(at in 0usize..400, bit in 0u8..8) {
            let idp = idp_with_keys();
            let token = sign(Algorithm::ES256, "ec-1", &claims());
            let mut bytes = token.into_bytes();
            let i = at % bytes.len();
            bytes[i] ^= 1 << bit;
            if let Ok(t) = String::from_utf8(bytes) {
                if let Ok(c) = check(&idp, &t, NOW) {
                    // Base64 padding bits can flip without changing the decoded bytes.
                    prop_assert_eq!(c.sub, "user-1");
                }
            }
        }
    }
}
