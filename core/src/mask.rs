//! What a user may see of a stored secret, and how a form's "unchanged" value is recognised.
//!
//! A mask shows at most the last 4 characters, and only when the secret is long enough that 4
//! characters give little away (16 or more) and they are plain key characters (a pasted JSON
//! document ends in `"}` and shows nothing). Beside it is a keyed fingerprint
//! ([`crate::keyring::Keyring::fingerprint`]) that lets a user tell two keys apart without
//! revealing either.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The dot used in masks. Real keys never contain it, which is how a mask sent back by a form
/// is told from a new key.
pub const MASK_CHAR: char = '•';
const REVEAL: usize = 4;
const MIN_LEN_TO_REVEAL: usize = 16;

/// 8 hex characters of an HMAC-SHA256 over the binding and the secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut s = String::with_capacity(8);
        for b in digest.iter().take(4) {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The masked form of a secret: `••••wxyz` (or `••••••••`) and its fingerprint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    /// What the key field shows.
    pub masked: String,
    pub fingerprint: Fingerprint,
}

impl Mask {
    pub fn new(secret: &SecretString, fingerprint: Fingerprint) -> Self {
        let s = secret.expose_secret();
        let count = s.chars().count();
        let tail: String = s.chars().skip(count.saturating_sub(REVEAL)).collect();
        let plain_tail = tail
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let masked = if count >= MIN_LEN_TO_REVEAL && plain_tail {
            format!("{}{tail}", MASK_CHAR.to_string().repeat(4))
        } else {
            MASK_CHAR.to_string().repeat(8)
        };
        Self {
            masked,
            fingerprint,
        }
    }
}

/// What a credential form field means once submitted.
#[derive(Debug)]
pub enum FormValue {
    /// The mask came back untouched: keep the stored secret.
    Unchanged,
    /// A new secret, trimmed of the whitespace pastes bring along.
    New(SecretString),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormValueError {
    #[error("the key is empty: paste the key, or leave the masked value to keep the current one")]
    Empty,
    #[error("this looks like a masked key that does not match the stored one: paste the full key")]
    StaleMask,
}

impl FormValue {
    /// Interprets a submitted value given the mask currently shown (if a secret is stored).
    pub fn parse(input: SecretString, current: Option<&Mask>) -> Result<Self, FormValueError> {
        let trimmed = input.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(FormValueError::Empty);
        }
        if trimmed.contains(MASK_CHAR) {
            return match current {
                Some(mask) if mask.masked == trimmed => Ok(FormValue::Unchanged),
                _ => Err(FormValueError::StaleMask),
            };
        }
        if trimmed.len() == input.expose_secret().len() {
            Ok(FormValue::New(input))
        } else {
            Ok(FormValue::New(SecretString::from(trimmed)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fp() -> Fingerprint {
        Fingerprint::from_digest(&[0xab, 0xcd, 0xef, 0x01, 0x99])
    }

    fn mask(s: &str) -> Mask {
        Mask::new(&SecretString::from(s), fp())
    }

    #[test]
    fn shows_the_last_four_of_a_long_key() {
        let m = mask("sk-ant-fake0-abcdefghijklmnopWXYZ");
        assert_eq!(m.masked, "••••WXYZ");
        assert_eq!(m.fingerprint.as_str(), "abcdef01");
    }

    #[test]
    fn short_keys_and_documents_show_nothing() {
        assert_eq!(mask("short-key-12").masked, "••••••••");
        assert_eq!(
            mask("{\"type\": \"service_account\", \"x\": 1}").masked,
            "••••••••"
        );
        assert_eq!(mask("").masked, "••••••••");
    }

    proptest! {
        /// Whatever the secret, the mask reveals at most its last 4 characters and never any
        /// other part of it.
        #[test]
        fn reveals_at_most_the_last_four(secret in "\\PC{0,80}") {
            let m = mask(&secret);
            let shown: String = m.masked.chars().filter(|&c| c != MASK_CHAR).collect();
            prop_assert!(shown.chars().count() <= 4);
            prop_assert!(secret.ends_with(&shown));
            if secret.chars().count() < MIN_LEN_TO_REVEAL {
                prop_assert!(shown.is_empty());
            }
        }
    }

    #[test]
    fn the_mask_sent_back_means_unchanged() {
        let m = mask("sk-ant-fake0-abcdefghijklmnopWXYZ");
        let v = FormValue::parse(SecretString::from(" ••••WXYZ "), Some(&m)).expect("parse");
        assert!(matches!(v, FormValue::Unchanged));
    }

    #[test]
    fn another_mask_is_refused_not_stored() {
        let m = mask("sk-ant-fake0-abcdefghijklmnopWXYZ");
        for input in ["••••ABCD", "••••WXYZ extra", "sk-••••"] {
            let err = FormValue::parse(SecretString::from(input), Some(&m)).expect_err("refused");
            assert_eq!(err, FormValueError::StaleMask);
        }
        let err = FormValue::parse(SecretString::from("••••WXYZ"), None).expect_err("no key yet");
        assert_eq!(err, FormValueError::StaleMask);
    }

    #[test]
    fn a_new_key_is_trimmed_and_empty_is_refused() {
        let v = FormValue::parse(SecretString::from("  sk-new-key\n"), None).expect("parse");
        match v {
            FormValue::New(s) => assert_eq!(s.expose_secret(), "sk-new-key"),
            FormValue::Unchanged => panic!("expected a new key"),
        }
        let err = FormValue::parse(SecretString::from(" \n\t"), None).expect_err("empty");
        assert_eq!(err, FormValueError::Empty);
    }
}
