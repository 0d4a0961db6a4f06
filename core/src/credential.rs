//! A tenant's credential, checked against the catalog entry's form.
//!
//! The entry's first secret field travels as `"key"`; the others as `"fields": {name: value}`.
//! Checking refuses what cannot be a credential (missing or unknown fields, empty or oversize
//! values, control characters) and only *warns* when a value does not match the field's usual
//! pattern: real keys break strict patterns.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogEntry, CredentialField};

/// The longest value a field accepts (a Google service-account JSON key is about 2.4 KB).
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// A credential's values, in the entry's field order. `Debug` shows field names only.
pub struct Credential {
    values: Vec<(CredentialField, SecretString)>,
    primary: usize,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field(
                "fields",
                &self.values.iter().map(|(f, _)| &f.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Credential {
    /// Checks a submitted credential against the entry. `key` is the primary secret,
    /// `fields` every other field by name.
    pub fn check(
        entry: &CatalogEntry,
        key: SecretString,
        mut fields: BTreeMap<String, SecretString>,
    ) -> Result<(Self, Vec<FormatWarning>), CredentialError> {
        let form = entry.credential_fields();
        let primary = primary_index(&form);
        if let Some(name) = fields.keys().find(|n| !form.iter().any(|f| &f.name == *n)) {
            return Err(CredentialError::UnknownField { name: name.clone() });
        }
        let primary_name = &form[primary].name;
        if fields.contains_key(primary_name) {
            return Err(CredentialError::PrimaryInFields {
                name: primary_name.clone(),
            });
        }
        let mut key = Some(key);
        let mut values = Vec::with_capacity(form.len());
        let mut warnings = Vec::new();
        for (i, field) in form.into_iter().enumerate() {
            let raw = if i == primary {
                key.take()
            } else {
                fields.remove(&field.name)
            };
            let Some(raw) = raw else {
                if field.required {
                    return Err(CredentialError::Missing { label: field.label });
                }
                continue;
            };
            let value = clean(&field, raw)?;
            if let Some(w) = format_warning(&field, &value) {
                warnings.push(w);
            }
            values.push((field, value));
        }
        // Optional fields left out are not in `values`: find the main key again. It is the
        // first secret field and always required, so it is there.
        let present: Vec<CredentialField> = values.iter().map(|(f, _)| f.clone()).collect();
        let primary = primary_index(&present);
        Ok((Self { values, primary }, warnings))
    }

    /// The primary secret (what resolve returns as `api_key`).
    pub fn primary(&self) -> &SecretString {
        &self.values[self.primary].1
    }

    /// The main secret's field name (`key` for entries without declared fields).
    pub fn primary_name(&self) -> &str {
        &self.values[self.primary].0.name
    }

    /// Every field with its value, in form order.
    pub fn values(&self) -> impl Iterator<Item = (&CredentialField, &SecretString)> {
        self.values.iter().map(|(f, v)| (f, v))
    }

    /// A value by field name.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.values
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(_, v)| v)
    }
}

/// The index of the primary secret: the first secret field. Validation guarantees one exists.
fn primary_index(form: &[CredentialField]) -> usize {
    form.iter().position(|f| f.secret).unwrap_or(0)
}

fn clean(field: &CredentialField, raw: SecretString) -> Result<SecretString, CredentialError> {
    let trimmed = raw.expose_secret().trim();
    if trimmed.is_empty() {
        return Err(CredentialError::Empty {
            label: field.label.clone(),
        });
    }
    if trimmed.len() > MAX_VALUE_BYTES {
        return Err(CredentialError::TooLong {
            label: field.label.clone(),
            max: MAX_VALUE_BYTES,
        });
    }
    let allowed = |c: char| !c.is_control() || (field.multiline && matches!(c, '\n' | '\r' | '\t'));
    if !trimmed.chars().all(allowed) {
        return Err(CredentialError::ControlCharacters {
            label: field.label.clone(),
        });
    }
    Ok(SecretString::from(trimmed))
}

fn format_warning(field: &CredentialField, value: &SecretString) -> Option<FormatWarning> {
    let pattern = field.pattern.as_deref()?;
    // Patterns are checked when the entry is saved; one that fails here only skips the warning.
    let re = regex_lite::Regex::new(pattern).ok()?;
    if re.is_match(value.expose_secret()) {
        None
    } else {
        Some(FormatWarning {
            field: field.name.clone(),
            message: format!(
                "{} does not look like the usual format; it was kept anyway. Check that the whole value was pasted.",
                field.label
            ),
        })
    }
}

/// A value that does not match its field's usual pattern. Never quotes the value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatWarning {
    pub field: String,
    pub message: String,
}

/// Why a credential was refused. Messages name fields by label and never quote values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("{label} is required")]
    Missing { label: String },
    #[error("{label} is empty")]
    Empty { label: String },
    #[error("{label} is longer than {max} bytes")]
    TooLong { label: String, max: usize },
    #[error("{label} contains control characters: paste the value again")]
    ControlCharacters { label: String },
    #[error("unknown credential field '{name}'")]
    UnknownField { name: String },
    #[error("'{name}' is the main secret: send it as \"key\", not in \"fields\"")]
    PrimaryInFields { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProviderKey;
    use serde_json::json;

    fn twilio() -> CatalogEntry {
        let spec = serde_json::from_value(json!({
            "name": "Twilio",
            "description": "SMS",
            "auth_type": "key-pair",
            "credential_label": "Auth Token",
            "help_url": "https://console.twilio.com/",
            "credential_fields": [
                {"name": "account_sid", "label": "Account SID", "secret": false, "pattern": "^(AC|SK)[0-9a-f]{32}$"},
                {"name": "auth_token", "label": "Auth Token", "secret": true, "pattern": "^[0-9a-zA-Z]{32}$"}
            ]
        }))
        .expect("spec");
        CatalogEntry::new(ProviderKey::parse("twilio").expect("key"), spec).expect("valid")
    }

    fn s(v: &str) -> SecretString {
        SecretString::from(v)
    }

    #[test]
    fn the_key_fills_the_first_secret_field_and_fields_the_rest() {
        let sid = format!("AC{}", "0a".repeat(16));
        let token = "0123456789abcdef0123456789abcdef";
        let (cred, warnings) = Credential::check(
            &twilio(),
            s(&format!(" {token}\n")),
            BTreeMap::from([("account_sid".to_owned(), s(&sid))]),
        )
        .expect("accepted");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cred.primary().expose_secret(), token);
        assert_eq!(
            cred.get("account_sid")
                .map(|v| v.expose_secret().to_owned()),
            Some(sid)
        );
        assert!(!format!("{cred:?}").contains(token));
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let spec = serde_json::from_value(json!({
            "name": "Twilio",
            "description": "SMS",
            "auth_type": "key-pair",
            "credential_label": "Auth Token",
            "help_url": "https://console.twilio.com/",
            "credential_fields": [
                {"name": "account_sid", "label": "Account SID", "secret": false},
                {"name": "api_key_sid", "label": "API key SID", "secret": false, "required": false},
                {"name": "auth_token", "label": "Auth Token", "secret": true}
            ]
        }))
        .expect("spec");
        let e = CatalogEntry::new(ProviderKey::parse("twilio").expect("key"), spec).expect("valid");
        let (cred, _) = Credential::check(
            &e,
            s("token-value"),
            BTreeMap::from([("account_sid".to_owned(), s("AC1"))]),
        )
        .expect("accepted without the optional field");
        assert_eq!(cred.primary().expose_secret(), "token-value");
        assert!(cred.get("api_key_sid").is_none());
    }

    #[test]
    fn a_pattern_mismatch_only_warns() {
        let (cred, warnings) = Credential::check(
            &twilio(),
            s("not-the-usual-token"),
            BTreeMap::from([("account_sid".to_owned(), s("XX123"))]),
        )
        .expect("kept despite warnings");
        assert_eq!(cred.primary().expose_secret(), "not-the-usual-token");
        assert_eq!(warnings.len(), 2);
        assert!(warnings
            .iter()
            .all(|w| !w.message.contains("XX123") && !w.message.contains("not-the-usual-token")));
        assert_eq!(warnings[0].field, "account_sid");
    }

    #[test]
    fn refusals_name_the_field_and_not_the_value() {
        let e = twilio();
        type Case<'a> = (SecretString, Vec<(&'a str, &'a str)>, CredentialError);
        let cases: Vec<Case> = vec![
            (
                s("zq-secret"),
                vec![],
                CredentialError::Missing {
                    label: "Account SID".into(),
                },
            ),
            (
                s("  "),
                vec![("account_sid", "AC1")],
                CredentialError::Empty {
                    label: "Auth Token".into(),
                },
            ),
            (
                s("zq-secret"),
                vec![("account_sid", "AC1"), ("region", "us")],
                CredentialError::UnknownField {
                    name: "region".into(),
                },
            ),
            (
                s("zq-secret"),
                vec![("account_sid", "AC1"), ("auth_token", "t")],
                CredentialError::PrimaryInFields {
                    name: "auth_token".into(),
                },
            ),
            (
                s("zq-sec\u{7}ret"),
                vec![("account_sid", "AC1")],
                CredentialError::ControlCharacters {
                    label: "Auth Token".into(),
                },
            ),
            (
                s(&"x".repeat(MAX_VALUE_BYTES + 1)),
                vec![("account_sid", "AC1")],
                CredentialError::TooLong {
                    label: "Auth Token".into(),
                    max: MAX_VALUE_BYTES,
                },
            ),
        ];
        for (key, fields, want) in cases {
            let fields = fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), s(v)))
                .collect();
            let err = Credential::check(&e, key, fields).expect_err("refused");
            assert_eq!(err, want);
            assert!(!err.to_string().contains("zq-secret"));
        }
    }

    #[test]
    fn multiline_fields_accept_pasted_json() {
        let spec = serde_json::from_value(json!({
            "name": "Google Calendar",
            "description": "Calendars",
            "auth_type": "service-account",
            "credential_label": "Service account key (JSON)",
            "help_url": "https://console.cloud.google.com/"
        }))
        .expect("spec");
        let e = CatalogEntry::new(ProviderKey::parse("google-calendar").expect("key"), spec)
            .expect("valid");
        let json_key = "{\n\t\"type\": \"service_account\"\r\n}";
        let (cred, _) = Credential::check(&e, s(json_key), BTreeMap::new()).expect("accepted");
        assert_eq!(cred.primary().expose_secret(), json_key);
    }
}
