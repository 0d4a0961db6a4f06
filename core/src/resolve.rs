//! Which key answers `getAiConfig(tenant, provider)`: a pure decision over plain facts.
//!
//! 1. A key the tenant supplied is used, whatever its last test said (the status goes with it):
//!    never a silent switch to the platform's bill.
//! 2. Otherwise the platform's key, if the entry is active and allows fallback, the platform
//!    admin has not set this tenant's policy for the provider to `never` (BYOK only), and a
//!    platform key is set.
//! 3. Otherwise nothing, and the reason says which of the above was missing.

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// The tenant's side: its integration row for the provider, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSide {
    NotInstalled,
    /// Installed, no key ("I'll add it later").
    NoKey,
    /// A key is stored; its current status.
    Key(Status),
}

impl TenantSide {
    /// From an installed row's status.
    pub fn installed(status: Status) -> Self {
        if status.has_key() {
            TenantSide::Key(status)
        } else {
            TenantSide::NoKey
        }
    }
}

/// The platform's side: the catalog entry's policy, the tenant's fallback policy for this
/// provider, and whether a platform key is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformSide {
    /// The entry is in the catalog and not retired.
    pub active: bool,
    pub fallback_allowed: bool,
    pub platform_key_set: bool,
    /// What a platform admin set for this tenant and provider (`Inherit` when nothing is set).
    pub tenant_policy: PlatformFallback,
}

/// A platform admin's per-tenant, per-provider rule for the platform key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformFallback {
    /// The catalog entry's rule applies.
    #[default]
    Inherit,
    /// Never the platform key for this tenant: resolve fails closed without a tenant key.
    Never,
}

impl PlatformFallback {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformFallback::Inherit => "inherit",
            PlatformFallback::Never => "never",
        }
    }

    /// From the stored text; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inherit" => Some(PlatformFallback::Inherit),
            "never" => Some(PlatformFallback::Never),
            _ => None,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Tenant,
    Platform,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tenant => "tenant",
            Source::Platform => "platform",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Use the tenant's key; `status` is its current status (it may be `invalid`).
    Tenant {
        status: Status,
    },
    /// Use the platform's key.
    Platform,
    NotFound(Unresolved),
}

/// Why no key answers: what the tenant lacks, and why the platform key cannot stand in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unresolved {
    /// `true` when the tenant installed the provider without a key, `false` when it has not
    /// installed it at all.
    pub installed: bool,
    pub why: NotFound,
}

impl Unresolved {
    /// The problem a caller can branch on: the tenant's own policy and an unknown provider
    /// first, then what the tenant lacks (the reason the platform key cannot serve is in the
    /// detail).
    pub fn kind(self) -> UnresolvedKind {
        match self.why {
            NotFound::UnknownProvider => UnresolvedKind::UnknownProvider,
            NotFound::TenantPolicyNever | NotFound::FallbackNotAllowed => {
                UnresolvedKind::FallbackNotAllowed
            }
            NotFound::NoPlatformKey | NotFound::Retired if self.installed => UnresolvedKind::NoKey,
            NotFound::NoPlatformKey | NotFound::Retired => UnresolvedKind::NotInstalled,
        }
    }
}

/// The problem types of a failed resolve (`/problems/<slug>`), what clients' typed errors
/// are made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnresolvedKind {
    UnknownProvider,
    /// The tenant has not installed the provider, and the platform key cannot serve.
    NotInstalled,
    /// Installed without a key, and the platform key cannot serve.
    NoKey,
    /// No tenant key, and the platform key is not allowed: by the entry or by the tenant's
    /// policy (BYOK only).
    FallbackNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    #[error("the provider is not in the catalog")]
    UnknownProvider,
    #[error("the tenant has supplied no key and this provider does not allow the platform key")]
    FallbackNotAllowed,
    #[error("the tenant has supplied no key and its policy for this provider is to bring its own key (platform fallback: never)")]
    TenantPolicyNever,
    #[error("the tenant has supplied no key and no platform key is set for this provider")]
    NoPlatformKey,
    #[error("the tenant has supplied no key and this provider is retired from the catalog")]
    Retired,
}

/// Decides the source. `platform` is `None` when the provider is not in the catalog at all.
pub fn resolve(tenant: TenantSide, platform: Option<PlatformSide>) -> Resolution {
    let why = match (tenant, platform) {
        (TenantSide::Key(status), _) => return Resolution::Tenant { status },
        (_, None) => NotFound::UnknownProvider,
        (_, Some(p)) if !p.active => NotFound::Retired,
        (_, Some(p)) if p.tenant_policy == PlatformFallback::Never => NotFound::TenantPolicyNever,
        (_, Some(p)) if !p.fallback_allowed => NotFound::FallbackNotAllowed,
        (_, Some(p)) if !p.platform_key_set => NotFound::NoPlatformKey,
        (_, Some(_)) => return Resolution::Platform,
    };
    Resolution::NotFound(Unresolved {
        installed: tenant == TenantSide::NoKey,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPEN: PlatformSide = PlatformSide {
        active: true,
        fallback_allowed: true,
        platform_key_set: true,
        tenant_policy: PlatformFallback::Inherit,
    };

    fn nf(installed: bool, why: NotFound) -> Resolution {
        Resolution::NotFound(Unresolved { installed, why })
    }

    #[test]
    fn the_tenant_key_wins_even_when_invalid() {
        for status in [Status::Connected, Status::Invalid, Status::Unverified] {
            assert_eq!(
                resolve(TenantSide::Key(status), Some(OPEN)),
                Resolution::Tenant { status }
            );
        }
    }

    #[test]
    fn the_platform_key_serves_only_tenants_without_a_key() {
        assert_eq!(resolve(TenantSide::NoKey, Some(OPEN)), Resolution::Platform);
        assert_eq!(
            resolve(TenantSide::NotInstalled, Some(OPEN)),
            Resolution::Platform
        );
        assert_eq!(
            TenantSide::installed(Status::Disconnected),
            TenantSide::NoKey
        );
    }

    #[test]
    fn each_missing_condition_has_its_reason() {
        let no = |f: fn(&mut PlatformSide)| {
            let mut p = OPEN;
            f(&mut p);
            resolve(TenantSide::NoKey, Some(p))
        };
        assert_eq!(no(|p| p.active = false), nf(true, NotFound::Retired));
        assert_eq!(
            no(|p| p.fallback_allowed = false),
            nf(true, NotFound::FallbackNotAllowed)
        );
        assert_eq!(
            no(|p| p.tenant_policy = PlatformFallback::Never),
            nf(true, NotFound::TenantPolicyNever)
        );
        assert_eq!(
            no(|p| p.platform_key_set = false),
            nf(true, NotFound::NoPlatformKey)
        );
        assert_eq!(
            resolve(TenantSide::NotInstalled, None),
            nf(false, NotFound::UnknownProvider)
        );
    }

    #[test]
    fn a_byok_only_tenant_never_gets_the_platform_key_and_is_told_so() {
        let mut p = OPEN;
        p.tenant_policy = PlatformFallback::Never;
        for tenant in [TenantSide::NotInstalled, TenantSide::NoKey] {
            let Resolution::NotFound(u) = resolve(tenant, Some(p)) else {
                panic!("resolved under a never policy");
            };
            assert_eq!(u.kind(), UnresolvedKind::FallbackNotAllowed);
        }
        // Its own key still serves.
        assert_eq!(
            resolve(TenantSide::Key(Status::Connected), Some(p)),
            Resolution::Tenant {
                status: Status::Connected
            }
        );
    }

    #[test]
    fn what_the_tenant_lacks_names_the_problem() {
        let mut p = OPEN;
        p.platform_key_set = false;
        let kind = |t| match resolve(t, Some(p)) {
            Resolution::NotFound(u) => Some(u.kind()),
            _ => None,
        };
        assert_eq!(
            kind(TenantSide::NotInstalled),
            Some(UnresolvedKind::NotInstalled)
        );
        assert_eq!(kind(TenantSide::NoKey), Some(UnresolvedKind::NoKey));
    }

    #[test]
    fn policies_read_back_what_they_write() {
        for p in [PlatformFallback::Inherit, PlatformFallback::Never] {
            assert_eq!(PlatformFallback::parse(p.as_str()), Some(p));
        }
        assert_eq!(PlatformFallback::parse("always"), None);
    }
    proptest! {
        #[test]
        fn platform_only_when_no_tenant_key_and_every_condition_holds(
            tenant in prop_oneof![
                Just(TenantSide::NotInstalled),
                Just(TenantSide::NoKey),
                Just(TenantSide::Key(Status::Connected)),
                Just(TenantSide::Key(Status::Invalid)),
                Just(TenantSide::Key(Status::Unverified)),
            ],
            listed in any::<bool>(), active in any::<bool>(), fallback in any::<bool>(), set in any::<bool>(),
            never in any::<bool>(),
        ) {
            let tenant_policy = if never { PlatformFallback::Never } else { PlatformFallback::Inherit };
            let platform = listed.then_some(PlatformSide { active, fallback_allowed: fallback, platform_key_set: set, tenant_policy });
            let r = resolve(tenant, platform);
            let tenant_has_key = matches!(tenant, TenantSide::Key(_));
            prop_assert_eq!(matches!(r, Resolution::Tenant { .. }), tenant_has_key);
            prop_assert_eq!(
                r == Resolution::Platform,
                !tenant_has_key && listed && active && fallback && set && !never
            );
            if let Resolution::NotFound(u) = r {
                // A listed, active provider under `never` always says "not allowed".
                if listed && active && never {
                    prop_assert_eq!(u.kind(), UnresolvedKind::FallbackNotAllowed);
                }
                prop_assert_eq!(u.installed, tenant == TenantSide::NoKey);
            }
        }
    }
}
