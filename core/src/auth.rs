//! Who may call: the roles a token carries, which secret signs which role, and the settings
//! that verifying a token needs, checked before any authenticated route is served.
//!
//! Two secrets, so that a leak of the one that signs users' sessions cannot read tenants' keys:
//! `AUTH_SECRET` signs user tokens (`member`, `owner`, `platform-admin`) and
//! `SERVICE_AUTH_SECRET` signs service tokens (`service`, the role that resolves keys). A token
//! is valid only under the secret of its role. [`verify_token`] checks a token (HS256,
//! `jsonwebtoken`) against the settings and a clock the caller passes in.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The shortest secret accepted for HS256 signing: the hash's output size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The settings (Worker secrets and vars) that authentication reads.
pub const AUTH_SECRET: &str = "AUTH_SECRET";
pub const SERVICE_AUTH_SECRET: &str = "SERVICE_AUTH_SECRET";
pub const AUTH_ISSUER: &str = "AUTH_ISSUER";
pub const AUTH_AUDIENCE: &str = "AUTH_AUDIENCE";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Member,
    Owner,
    PlatformAdmin,
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Member,
        Role::Owner,
        Role::PlatformAdmin,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Owner => "owner",
            Role::PlatformAdmin => "platform-admin",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The secret that must have signed a token carrying this role.
    pub fn signer(self) -> Signer {
        match self {
            Role::Service => Signer::Service,
            Role::Member | Role::Owner | Role::PlatformAdmin => Signer::User,
        }
    }
}

/// The issuer of local development tokens (`wrangler.toml`'s top-level `AUTH_ISSUER`), which
/// `script/deploy` refuses in a deployed environment.
pub const DEV_ISSUER: &str = "byok-dev";

/// Whether `/dev/login` exists for a request. Three independent conditions: the `DEV_MODE`
/// switch, the dev issuer (so a deployment that carries `DEV_MODE` by mistake, with its real
/// issuer, still has no dev login), and a loopback URL host. The host alone is no gate: a
/// Worker calling this one over a service binding chooses the URL, `http://127.0.0.1/` included.
pub fn dev_login_open(dev_mode: bool, issuer: &str, host_is_loopback: bool) -> bool {
    dev_mode && issuer == DEV_ISSUER && host_is_loopback
}

/// Which of the two secrets signed (or must sign) a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// `AUTH_SECRET`: people's sessions, minted by the platform's backend.
    User,
    /// `SERVICE_AUTH_SECRET`: the platform's edge functions that resolve keys.
    Service,
}

impl Signer {
    pub fn setting(self) -> &'static str {
        match self {
            Signer::User => AUTH_SECRET,
            Signer::Service => SERVICE_AUTH_SECRET,
        }
    }
}

/// Why the service cannot serve authenticated routes. Names the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{setting} must be at least {MIN_SECRET_BYTES} bytes (it has {len})")]
    TooShort { setting: &'static str, len: usize },
    #[error("{SERVICE_AUTH_SECRET} must differ from {AUTH_SECRET}")]
    SameSecrets,
    #[error("{0} is empty")]
    Empty(&'static str),
}

/// Verified authentication settings: two distinct secrets of at least 32 bytes, and the
/// issuer and audience every token must name. `Debug` shows no secret.
pub struct AuthSettings {
    user_secret: Zeroizing<Vec<u8>>,
    service_secret: Zeroizing<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl AuthSettings {
    /// Checks the settings as the environment gives them (`None`: not set).
    pub fn from_values(
        auth_secret: Option<&str>,
        service_secret: Option<&str>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        let secret = |name: &'static str, v: Option<&str>| {
            let v = v.ok_or(AuthConfigError::Missing(name))?;
            if v.len() < MIN_SECRET_BYTES {
                return Err(AuthConfigError::TooShort {
                    setting: name,
                    len: v.len(),
                });
            }
            Ok(Zeroizing::new(v.as_bytes().to_vec()))
        };
        let user_secret = secret(AUTH_SECRET, auth_secret)?;
        let service_secret = secret(SERVICE_AUTH_SECRET, service_secret)?;
        if user_secret == service_secret {
            return Err(AuthConfigError::SameSecrets);
        }
        let name = |setting: &'static str, v: Option<&str>| {
            let v = v.ok_or(AuthConfigError::Missing(setting))?.trim();
            if v.is_empty() {
                return Err(AuthConfigError::Empty(setting));
            }
            Ok(v.to_owned())
        };
        Ok(Self {
            user_secret,
            service_secret,
            issuer: name(AUTH_ISSUER, issuer)?,
            audience: name(AUTH_AUDIENCE, audience)?,
        })
    }

    /// The secret for one kind of token, to verify (or, in dev login, to sign) it.
    pub fn secret(&self, signer: Signer) -> &[u8] {
        match signer {
            Signer::User => &self.user_secret,
            Signer::Service => &self.service_secret,
        }
    }
}

/// Whether a token whose signature verified under `signer` may carry `role`: a service token
/// signed with the user secret (or the reverse) is refused, whatever else it says.
pub fn role_allowed(role: Role, signer: Signer) -> Result<(), RoleSignerMismatch> {
    if role.signer() == signer {
        Ok(())
    } else {
        Err(RoleSignerMismatch { role })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token with the role '{}' must be signed with {}", .role.as_str(), .role.signer().setting())]
pub struct RoleSignerMismatch {
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const USER: &str = "u-0123456789abcdef0123456789abcdef";
    const SERVICE: &str = "s-0123456789abcdef0123456789abcdef";

    fn settings(
        user: Option<&str>,
        service: Option<&str>,
    ) -> Result<AuthSettings, AuthConfigError> {
        AuthSettings::from_values(user, service, Some("https://platform.test"), Some("byok"))
    }

    #[test]
    fn accepts_two_distinct_long_secrets() {
        let s = settings(Some(USER), Some(SERVICE)).expect("valid");
        assert_eq!(s.secret(Signer::User), USER.as_bytes());
        assert_eq!(s.secret(Signer::Service), SERVICE.as_bytes());
        assert_eq!(s.issuer, "https://platform.test");
        let shown = format!("{s:?}");
        assert!(!shown.contains(USER) && !shown.contains(SERVICE), "{shown}");
    }

    #[test]
    fn exactly_32_bytes_is_enough_and_31_is_not() {
        let ok = "a".repeat(32);
        let short = "b".repeat(31);
        assert!(settings(Some(&ok), Some(SERVICE)).is_ok());
        assert_eq!(
            settings(Some(&short), Some(SERVICE)).err(),
            Some(AuthConfigError::TooShort {
                setting: AUTH_SECRET,
                len: 31
            })
        );
        assert_eq!(
            settings(Some(USER), Some(&short)).err(),
            Some(AuthConfigError::TooShort {
                setting: SERVICE_AUTH_SECRET,
                len: 31
            })
        );
    }

    #[test]
    fn missing_settings_are_named() {
        assert_eq!(
            settings(None, Some(SERVICE)).err(),
            Some(AuthConfigError::Missing(AUTH_SECRET))
        );
        assert_eq!(
            settings(Some(USER), None).err(),
            Some(AuthConfigError::Missing(SERVICE_AUTH_SECRET))
        );
        assert_eq!(
            AuthSettings::from_values(Some(USER), Some(SERVICE), None, Some("a")).err(),
            Some(AuthConfigError::Missing(AUTH_ISSUER))
        );
        assert_eq!(
            AuthSettings::from_values(Some(USER), Some(SERVICE), Some("i"), Some("  ")).err(),
            Some(AuthConfigError::Empty(AUTH_AUDIENCE))
        );
    }

    #[test]
    fn one_secret_for_both_kinds_is_refused() {
        assert_eq!(
            settings(Some(USER), Some(USER)).err(),
            Some(AuthConfigError::SameSecrets)
        );
    }

    #[test]
    fn each_role_is_signed_by_its_own_secret() {
        for role in Role::ALL {
            let other = match role.signer() {
                Signer::User => Signer::Service,
                Signer::Service => Signer::User,
            };
            assert!(role_allowed(role, role.signer()).is_ok());
            let err = role_allowed(role, other).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains(role.signer().setting())),
                "{err:?}"
            );
        }
        assert_eq!(Role::Service.signer(), Signer::Service);
        assert_eq!(Role::PlatformAdmin.signer(), Signer::User);
    }

    #[test]
    fn the_dev_login_needs_dev_mode_the_dev_issuer_and_a_loopback_host() {
        assert!(dev_login_open(true, DEV_ISSUER, true));
        for (dev, issuer, loopback) in [
            (false, DEV_ISSUER, true),
            // DEV_MODE left on in a deployment: its real issuer keeps the door shut, whatever
            // host a service-binding caller writes in the URL.
            (true, "https://app.soconnective.com", true),
            (true, "", true),
            (true, DEV_ISSUER, false),
        ] {
            assert!(
                !dev_login_open(dev, issuer, loopback),
                "{dev} {issuer} {loopback}"
            );
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_value(role).expect("json");
            assert_eq!(json, role.as_str());
        }
        assert_eq!(Role::parse("admin"), None);
    }

    proptest! {
        /// Whatever is wrong with the settings, the error never quotes a secret.
        #[test]
        fn errors_never_quote_a_secret(user in "[0-9a-f]{4,40}", service in "[0-9a-f]{4,40}") {
            if let Err(e) = settings(Some(&user), Some(&service)) {
                let text = e.to_string();
                for secret in [&user, &service] {
                    {
                        prop_assert!(!text.contains(secret.as_str()), "{}", text);
                    }
                }
            }
        }
    }
}

/// What a session or service token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// Service tokens only: the providers the token may resolve ([`crate::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
    /// Service tokens only: the tenants the token may resolve for ([`crate::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
    /// Sessions opened by a connect link only: the language, theme and embedding the
    /// platform asked for ([`crate::connect`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<crate::connect::SessionInfo>,
}

/// Why a token was refused, in words for the caller (never quoting the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("The token has expired: sign in again.")]
    Expired,
    #[error("The token's signature is not valid.")]
    BadSignature,
    #[error("The token must be signed with HS256.")]
    WrongAlgorithm,
    #[error("The token was not issued for this service: 'iss' must be '{0}'.")]
    WrongIssuer(String),
    #[error("The token is meant for another service: 'aud' must be '{0}'.")]
    WrongAudience(String),
    #[error("The token lacks the claim '{0}' (sub, tenant, role, exp, iss and aud are required).")]
    MissingClaim(String),
    #[error("The token is malformed or missing claims (sub, tenant, role, exp, iss, aud).")]
    Malformed,
    #[error("Unsigned tokens (alg 'none') are refused.")]
    Unsigned,
    #[error("The token says it is signed with {token}, but its key verifies {key} only.")]
    KeyAlgorithm { token: String, key: String },
    #[error("The token's key '{0}' is not in the identity provider's key set.")]
    UnknownKey(String),
    #[error("The identity provider's keys could not be fetched and none are cached: try again in a moment.")]
    KeysUnavailable,
    #[error("None of the roles in the token's '{0}' claim has a role in this service (see AUTH_ROLE_MAP).")]
    RoleNotMapped(String),
}

/// Seconds of clock skew allowed on `exp`.
pub const LEEWAY_SECONDS: u64 = 30;

/// Verifies a token at `now` (seconds since the epoch): HS256 under the user secret, else the
/// service secret (they differ, so at most one verifies), with `iss` and `aud` as configured.
/// Returns the claims and which secret verified them; whether the role may be signed by that
/// secret is [`role_allowed`]'s decision.
pub fn verify_token(
    token: &str,
    settings: &AuthSettings,
    now: u64,
) -> Result<(Claims, Signer), TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    // The clock is the caller's: expiry is checked below, not by reading the system time.
    validation.validate_exp = false;
    validation.set_issuer(&[settings.issuer.as_str()]);
    validation.set_audience(&[settings.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let classify = |e: jsonwebtoken::errors::Error| match e.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer(settings.issuer.clone()),
        ErrorKind::InvalidAudience => TokenError::WrongAudience(settings.audience.clone()),
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        _ => TokenError::Malformed,
    };
    let mut refused = TokenError::BadSignature;
    for signer in [Signer::User, Signer::Service] {
        let key = DecodingKey::from_secret(settings.secret(signer));
        match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => {
                if data.claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
                    return Err(TokenError::Expired);
                }
                return Ok((data.claims, signer));
            }
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => refused = classify(e),
            Err(e) => return Err(classify(e)),
        }
    }
    Err(refused)
}

#[cfg(test)]
pub(crate) mod token_tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use proptest::prelude::*;

    const NOW: u64 = 1_764_000_000;

    /// Settings for tests: issuer `byok-test`, audience `byok`.
    pub(crate) fn settings() -> AuthSettings {
        AuthSettings::from_values(
            Some("user-secret-0123456789abcdef0123456789"),
            Some("service-secret-0123456789abcdef01234567"),
            Some("byok-test"),
            Some("byok"),
        )
        .expect("settings")
    }

    fn token(claims: &serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("token")
    }

    fn claims(role: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({"sub": "u1", "tenant": "t1", "role": role, "exp": exp, "iss": "byok-test", "aud": "byok"})
    }

    #[test]
    fn each_secret_verifies_its_own_tokens_and_expiry_uses_the_given_clock() {
        let s = settings();
        let user = token(&claims("owner", NOW + 60), s.secret(Signer::User));
        let (c, signer) = verify_token(&user, &s, NOW).expect("valid");
        assert_eq!((c.role, signer), (Role::Owner, Signer::User));
        let service = token(&claims("service", NOW + 60), s.secret(Signer::Service));
        assert_eq!(
            verify_token(&service, &s, NOW).map(|(_, s)| s),
            Ok(Signer::Service)
        );
        assert_eq!(
            verify_token(&user, &s, NOW + 60 + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
        let other = token(
            &claims("owner", NOW + 60),
            b"another-secret-0123456789abcdef0123",
        );
        assert_eq!(verify_token(&other, &s, NOW), Err(TokenError::BadSignature));
        let mut wrong_aud = claims("owner", NOW + 60);
        wrong_aud["aud"] = "elsewhere".into();
        assert_eq!(
            verify_token(&token(&wrong_aud, s.secret(Signer::User)), &s, NOW),
            Err(TokenError::WrongAudience("byok".into()))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any text is refused with a typed error, never a panic.
        #[test]
        fn any_text_is_refused(t in "\\PC{0,300}") {
            prop_assert!(verify_token(&t, &settings(), NOW).is_err());
        }

        /// A valid token with any one character changed no longer verifies (or, when the
        /// change is in base64 padding bits, verifies to the very same claims).
        #[test]
        fn a_changed_token_does_not_verify(index in 0usize..400, c in "[A-Za-z0-9_.=-]") {
            let s = settings();
            let good = token(&claims("member", NOW + 600), s.secret(Signer::User));
            let original = verify_token(&good, &s, NOW).expect("valid");
            let i = index % good.len();
            let mut changed = good.clone();
            changed.replace_range(i..=i, &c);
            if let Ok(got) = verify_token(&changed, &s, NOW) {
                prop_assert_eq!(got, original);
            }
        }
    }
}
