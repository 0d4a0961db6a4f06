//! Least privilege for tokens: which tenants and providers a token may reach.
//!
//! A token may carry two optional claims, `providers` (the provider keys it may resolve or
//! report on) and `tenants` (the tenants it may act for). An absent claim does not limit; a
//! present one limits to exactly what it lists, so an empty list allows nothing. A claim that
//! is not a list of valid ids refuses the whole token: a scope that cannot be read must never
//! widen to "everything".
//!
//! [`Scope::from_claims`] reads the claims once, when the token is verified; [`Scope::allows`]
//! is the decision each resolve and usage report asks for.

use std::collections::BTreeSet;
use std::fmt;

use crate::ids::{ProviderKey, TenantId};

/// The claim that limits providers.
pub const PROVIDERS_CLAIM: &str = "providers";
/// The claim that limits tenants.
pub const TENANTS_CLAIM: &str = "tenants";
/// The most entries one claim may list (a token is a header on every request).
pub const MAX_ENTRIES: usize = 256;

/// Either no limit, or exactly the listed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit<T: Ord> {
    Any,
    Only(BTreeSet<T>),
}

impl<T: Ord> Limit<T> {
    pub fn contains(&self, value: &T) -> bool {
        match self {
            Limit::Any => true,
            Limit::Only(set) => set.contains(value),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Limit::Any)
    }
}

/// What a token may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub providers: Limit<ProviderKey>,
    pub tenants: Limit<TenantId>,
}

impl Scope {
    /// No limit: a token without scope claims.
    pub const fn unlimited() -> Self {
        Scope {
            providers: Limit::Any,
            tenants: Limit::Any,
        }
    }

    /// Reads the two claims as the token carries them (`None`: absent).
    pub fn from_claims(
        providers: Option<&[String]>,
        tenants: Option<&[String]>,
    ) -> Result<Self, ScopeError> {
        Ok(Scope {
            providers: limit(PROVIDERS_CLAIM, providers, |s| {
                ProviderKey::parse(s).map_err(|e| e.to_string())
            })?,
            tenants: limit(TENANTS_CLAIM, tenants, |s| {
                TenantId::parse(s).map_err(|e| e.to_string())
            })?,
        })
    }

    /// Whether a token with this scope may act for `tenant` on `provider`; when not, which
    /// claim refuses it.
    pub fn allows(&self, tenant: &TenantId, provider: &ProviderKey) -> Result<(), OutOfScope> {
        if !self.tenants.contains(tenant) {
            return Err(OutOfScope::Tenant(tenant.clone()));
        }
        if !self.providers.contains(provider) {
            return Err(OutOfScope::Provider(provider.clone()));
        }
        Ok(())
    }
}

fn limit<T: Ord>(
    claim: &'static str,
    values: Option<&[String]>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Limit<T>, ScopeError> {
    let Some(values) = values else {
        return Ok(Limit::Any);
    };
    if values.len() > MAX_ENTRIES {
        return Err(ScopeError {
            claim,
            reason: format!("lists {} entries (at most {MAX_ENTRIES})", values.len()),
        });
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            parse(v).map_err(|e| ScopeError {
                claim,
                reason: format!("entry {i} {e}"),
            })
        })
        .collect::<Result<BTreeSet<T>, _>>()
        .map(Limit::Only)
}

/// A scope claim that cannot be read. The token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The token's '{claim}' claim must be a list of ids: {reason}.")]
pub struct ScopeError {
    pub claim: &'static str,
    pub reason: String,
}

/// A request outside the token's scope, naming the claim that refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutOfScope {
    Tenant(TenantId),
    Provider(ProviderKey),
}

impl OutOfScope {
    pub fn claim(&self) -> &'static str {
        match self {
            OutOfScope::Tenant(_) => TENANTS_CLAIM,
            OutOfScope::Provider(_) => PROVIDERS_CLAIM,
        }
    }
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfScope::Tenant(t) => write!(
                f,
                "This token's '{TENANTS_CLAIM}' claim does not include the tenant '{t}'."
            ),
            OutOfScope::Provider(p) => write!(
                f,
                "This token's '{PROVIDERS_CLAIM}' claim does not include the provider '{p}'."
            ),
        }
    }
}

impl std::error::Error for OutOfScope {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> ProviderKey {
        ProviderKey::parse(s).expect("provider")
    }
    fn t(s: &str) -> TenantId {
        TenantId::parse(s).expect("tenant")
    }
    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn absent_claims_do_not_limit() {
        let s = Scope::from_claims(None, None).expect("scope");
        assert_eq!(s, Scope::unlimited());
        assert_eq!(s.allows(&t("acme"), &p("stripe")), Ok(()));
    }

    #[test]
    fn a_listed_provider_is_allowed_and_another_is_refused_by_its_claim() {
        let list = strings(&["anthropic", "openai"]);
        let s = Scope::from_claims(Some(&list), None).expect("scope");
        assert_eq!(s.allows(&t("acme"), &p("openai")), Ok(()));
        let err = s.allows(&t("acme"), &p("stripe")).expect_err("refused");
        assert_eq!(err.claim(), "providers");
        assert!(err.to_string().contains("'stripe'"), "{err}");
    }

    #[test]
    fn tenants_limit_independently_and_an_empty_list_allows_nothing() {
        let tenants = strings(&["acme"]);
        let s = Scope::from_claims(None, Some(&tenants)).expect("scope");
        assert_eq!(s.allows(&t("acme"), &p("stripe")), Ok(()));
        assert_eq!(
            s.allows(&t("globex"), &p("stripe")).map_err(|e| e.claim()),
            Err("tenants")
        );
        let none = Scope::from_claims(Some(&[]), None).expect("scope");
        assert!(none.allows(&t("acme"), &p("anthropic")).is_err());
    }

    #[test]
    fn an_unreadable_claim_refuses_the_token_instead_of_widening() {
        for (providers, tenants, claim) in [
            (Some(strings(&["Anthropic!"])), None, "providers"),
            (None, Some(strings(&["acme", ""])), "tenants"),
            (
                Some((0..=MAX_ENTRIES).map(|i| format!("p{i}")).collect()),
                None,
                "providers",
            ),
        ] {
            let err =
                Scope::from_claims(providers.as_deref(), tenants.as_deref()).expect_err("refused");
            assert_eq!(err.claim, claim);
            assert!(err.to_string().contains(claim));
        }
    }

    proptest! {
        /// A scoped token allows exactly the pairs whose tenant and provider it lists; an
        /// unscoped claim allows every value of its kind.
        #[test]
        fn allows_exactly_what_the_claims_list(
            providers in proptest::option::of(proptest::collection::vec("[a-z][a-z0-9-]{0,6}", 0..5)),
            tenants in proptest::option::of(proptest::collection::vec("[a-z0-9][a-z0-9_-]{0,6}", 0..5)),
            provider in "[a-z][a-z0-9-]{0,6}",
            tenant in "[a-z0-9][a-z0-9_-]{0,6}",
        ) {
            let (Ok(pk), Ok(tid)) = (ProviderKey::parse(&provider), TenantId::parse(&tenant)) else {
                return Ok(());
            };
            let Ok(scope) = Scope::from_claims(providers.as_deref(), tenants.as_deref()) else {
                // Only lists holding an invalid id are refused.
                let bad = providers.iter().flatten().any(|v| ProviderKey::parse(v).is_err())
                    || tenants.iter().flatten().any(|v| TenantId::parse(v).is_err());
                prop_assert!(bad);
                return Ok(());
            };
            let provider_ok = providers.as_ref().is_none_or(|l| l.contains(&provider));
            let tenant_ok = tenants.as_ref().is_none_or(|l| l.contains(&tenant));
            let got = scope.allows(&tid, &pk);
            prop_assert_eq!(got.is_ok(), provider_ok && tenant_ok);
            if let Err(e) = got {
                // The tenant claim is asked first; the error names the claim that refused.
                let expected = if tenant_ok { "providers" } else { "tenants" };
                prop_assert_eq!(e.claim(), expected);
            }
        }
    }
}
