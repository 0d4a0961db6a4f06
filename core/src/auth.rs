//! Who may call: the roles a token carries, which secret signs which role, and the settings
//! that verifying a token needs, checked before any authenticated route is served.
//!
//! Two secrets, so that a leak of the one that signs users' sessions cannot read tenants' keys:
//! `AUTH_SECRET` signs user tokens (`member`, `owner`, `platform-admin`) and
//! `SERVICE_AUTH_SECRET` signs service tokens (`service`, the role that resolves keys). A token
//! is valid only under the secret of its role. The token itself (HS256, `jsonwebtoken`) is
//! verified by the adapters; the decisions are here.

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
