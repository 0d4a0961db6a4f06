//! Validated identifiers. Holding one of these means the string already passed its rule.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier. The message names the rule, never echoes long input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (got {len})")]
    TooLong { max: usize, len: usize },
    #[error("{rule}")]
    Pattern { rule: &'static str },
}

/// A provider's stable key: a lowercase slug such as `google-calendar`.
///
/// Rule: 2 to 64 characters, `a-z`, `0-9` and single hyphens between them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderKey(String);

impl ProviderKey {
    pub const MAX_LEN: usize = 64;
    const RULE: &'static str =
        "must be a lowercase slug: 2-64 characters of a-z, 0-9 and single hyphens between them";

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                max: Self::MAX_LEN,
                len: s.len(),
            });
        }
        let well_formed = s.len() >= 2
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if !well_formed {
            return Err(IdError::Pattern { rule: Self::RULE });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant (account) identifier, as carried in the `tenant` claim of a token.
///
/// Rule: 1 to 64 characters of `A-Z a-z 0-9 _ - .`; no separators that could be confused with
/// the keyring's binding or a storage key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                max: Self::MAX_LEN,
                len: s.len(),
            });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(IdError::Pattern {
                rule: "must use only A-Z, a-z, 0-9, '_', '-' and '.'",
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_impls {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_id_impls!(ProviderKey);
string_id_impls!(TenantId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_are_lowercase_slugs() {
        for ok in ["anthropic", "google-calendar", "meta-ads", "s3", "a1-b2-c3"] {
            assert!(ProviderKey::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "a",
            "Anthropic",
            "google_calendar",
            "-stripe",
            "stripe-",
            "meta--ads",
            "open ai",
            "ümlaut",
        ] {
            assert!(
                ProviderKey::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(
            ProviderKey::parse(&"a".repeat(65)),
            Err(IdError::TooLong { max: 64, len: 65 })
        );
    }

    #[test]
    fn tenant_ids_refuse_separators() {
        assert!(TenantId::parse("acme-corp_01.eu").is_ok());
        for bad in ["", "a|b", "a/b", "a b", "a:b"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: ProviderKey = serde_json::from_str("\"openai\"").expect("valid key");
        assert_eq!(ok.as_str(), "openai");
        let err = serde_json::from_str::<ProviderKey>("\"Open AI\"")
            .expect_err("invalid key")
            .to_string();
        assert!(err.contains("lowercase slug"), "{err}");
    }
}

/// The ids' rules in `/openapi.json`, so that schema-valid requests are ones the routes accept.
#[cfg(feature = "openapi")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    fn string(pattern: &str, min: usize, max: usize, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .min_length(Some(min))
            .max_length(Some(max))
            .description(Some(description))
            .into()
    }

    impl utoipa::PartialSchema for super::ProviderKey {
        fn schema() -> RefOr<Schema> {
            string(
                "^[a-z0-9]+(-[a-z0-9]+)*$",
                2,
                super::ProviderKey::MAX_LEN,
                "A provider's stable key: a lowercase slug",
            )
        }
    }

    impl utoipa::ToSchema for super::ProviderKey {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("ProviderKey")
        }
    }

    impl utoipa::PartialSchema for super::TenantId {
        fn schema() -> RefOr<Schema> {
            string(
                "^[A-Za-z0-9_.-]+$",
                1,
                super::TenantId::MAX_LEN,
                "A tenant (account) id",
            )
        }
    }

    impl utoipa::ToSchema for super::TenantId {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("TenantId")
        }
    }
}
