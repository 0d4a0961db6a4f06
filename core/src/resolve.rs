//! Which key answers `getAiConfig(tenant, provider)`: a pure decision over plain facts.
//!
//! 1. A key the tenant supplied is used, whatever its last test said (the status goes with it):
//!    never a silent switch to the platform's bill.
//! 2. Otherwise the platform's key, if the entry allows fallback, is active, and a platform key
//!    is set.
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

/// The platform's side: the catalog entry's policy and whether a platform key is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformSide {
    /// The entry is in the catalog and not retired.
    pub active: bool,
    pub fallback_allowed: bool,
    pub platform_key_set: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Tenant,
    Platform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Use the tenant's key; `status` is its current status (it may be `invalid`).
    Tenant {
        status: Status,
    },
    /// Use the platform's key.
    Platform,
    NotFound(NotFound),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    #[error("the provider is not in the catalog")]
    UnknownProvider,
    #[error("the tenant has supplied no key and this provider does not allow the platform key")]
    FallbackNotAllowed,
    #[error("the tenant has supplied no key and no platform key is set for this provider")]
    NoPlatformKey,
    #[error("the tenant has supplied no key and this provider is retired from the catalog")]
    Retired,
}

/// Decides the source. `platform` is `None` when the provider is not in the catalog at all.
pub fn resolve(tenant: TenantSide, platform: Option<PlatformSide>) -> Resolution {
    match (tenant, platform) {
        (TenantSide::Key(status), _) => Resolution::Tenant { status },
        (_, None) => Resolution::NotFound(NotFound::UnknownProvider),
        (_, Some(p)) if !p.active => Resolution::NotFound(NotFound::Retired),
        (_, Some(p)) if !p.fallback_allowed => Resolution::NotFound(NotFound::FallbackNotAllowed),
        (_, Some(p)) if !p.platform_key_set => Resolution::NotFound(NotFound::NoPlatformKey),
        (_, Some(_)) => Resolution::Platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPEN: PlatformSide = PlatformSide {
        active: true,
        fallback_allowed: true,
        platform_key_set: true,
    };

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
        assert_eq!(
            no(|p| p.active = false),
            Resolution::NotFound(NotFound::Retired)
        );
        assert_eq!(
            no(|p| p.fallback_allowed = false),
            Resolution::NotFound(NotFound::FallbackNotAllowed)
        );
        assert_eq!(
            no(|p| p.platform_key_set = false),
            Resolution::NotFound(NotFound::NoPlatformKey)
        );
        assert_eq!(
            resolve(TenantSide::NotInstalled, None),
            Resolution::NotFound(NotFound::UnknownProvider)
        );
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
        ) {
            let platform = listed.then_some(PlatformSide { active, fallback_allowed: fallback, platform_key_set: set });
            let r = resolve(tenant, platform);
            let tenant_has_key = matches!(tenant, TenantSide::Key(_));
            prop_assert_eq!(matches!(r, Resolution::Tenant { .. }), tenant_has_key);
            prop_assert_eq!(
                r == Resolution::Platform,
                !tenant_has_key && listed && active && fallback && set
            );
        }
    }
}
