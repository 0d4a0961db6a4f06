//! Sealing a tenant's (or the platform's) credential for storage, and opening it again.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use byok_core::api::ProblemKind;
use byok_core::credential::Credential;
use byok_core::ids::ProviderKey;
use byok_core::keyring::{Binding, Keyring, Owner, Sealed};
use byok_core::mask::Mask;
use byok_core::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::http::{problem, ApiError};
use crate::util::JsRng;

/// How a non-main field is stored: plain (not secret) or sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredField {
    Plain(String),
    Sealed(String),
}

/// A credential ready for a row: the sealed main secret, the other fields, the mask.
pub struct SealedCredential {
    pub secret: Vec<u8>,
    pub fields: BTreeMap<String, StoredField>,
    pub key_id: String,
    pub mask: Mask,
}

impl SealedCredential {
    pub fn fields_json(&self) -> String {
        serde_json::to_string(&self.fields).unwrap_or_else(|_| "{}".into())
    }
    pub fn mask_json(&self) -> String {
        serde_json::to_string(&self.mask).unwrap_or_else(|_| "null".into())
    }
}

fn sealing_failed() -> ApiError {
    problem(
        ProblemKind::Internal,
        "The key could not be encrypted; nothing was saved.",
    )
}

/// Seals every secret field of `credential` for `owner`'s row of `provider`.
pub fn seal(
    keyring: &Keyring,
    owner: Owner<'_>,
    provider: &ProviderKey,
    credential: &Credential,
) -> Result<SealedCredential, ApiError> {
    let mut main = None;
    let mut fields = BTreeMap::new();
    for (field, value) in credential.values() {
        let binding = Binding {
            tenant: owner,
            provider,
            field: &field.name,
        };
        if field.name == credential.primary_name() {
            let sealed = keyring
                .seal(binding, value, &mut JsRng)
                .map_err(|_| sealing_failed())?;
            main = Some((sealed, keyring.mask(binding, value), field.name.clone()));
        } else if field.secret {
            let sealed = keyring
                .seal(binding, value, &mut JsRng)
                .map_err(|_| sealing_failed())?;
            fields.insert(
                field.name.clone(),
                StoredField::Sealed(STANDARD.encode(sealed.as_bytes())),
            );
        } else {
            fields.insert(
                field.name.clone(),
                StoredField::Plain(value.expose_secret().to_owned()),
            );
        }
    }
    let (sealed, mask, name) = main.ok_or_else(sealing_failed)?;
    fields.insert("$main".into(), StoredField::Plain(name));
    Ok(SealedCredential {
        key_id: sealed.key_id().to_owned(),
        secret: sealed.into_bytes(),
        fields,
        mask,
    })
}

/// A row's stored fields and the name of its main secret (`key` unless `$main` says).
fn stored_fields(fields_json: Option<&str>) -> Option<(BTreeMap<String, StoredField>, String)> {
    let fields: BTreeMap<String, StoredField> = fields_json
        .map(serde_json::from_str)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let main_name = match fields.get("$main") {
        Some(StoredField::Plain(n)) => n.clone(),
        _ => "key".to_owned(),
    };
    Some((fields, main_name))
}

/// The opened credential: the main secret and every other field in plain text.
pub struct Opened {
    pub secret: SecretString,
    pub fields: Vec<(String, String)>,
}

fn unreadable() -> ApiError {
    problem(
        ProblemKind::Internal,
        "The stored key could not be decrypted (wrong keyring, or the row was altered). Save the key again.",
    )
}

pub fn open(
    keyring: &Keyring,
    owner: Owner<'_>,
    provider: &ProviderKey,
    secret: &[u8],
    fields_json: Option<&str>,
) -> Result<Opened, ApiError> {
    let (fields, main_name) = stored_fields(fields_json).ok_or_else(unreadable)?;
    let sealed = Sealed::from_bytes(secret.to_vec()).map_err(|_| unreadable())?;
    let secret = keyring
        .open(
            Binding {
                tenant: owner,
                provider,
                field: &main_name,
            },
            &sealed,
        )
        .map_err(|e| {
            worker::console_error!("opening a stored key failed: {e}");
            unreadable()
        })?;
    let mut out = Vec::new();
    for (name, stored) in &fields {
        if name == "$main" {
            continue;
        }
        let value = match stored {
            StoredField::Plain(v) => v.clone(),
            StoredField::Sealed(b64) => {
                let bytes = STANDARD.decode(b64).map_err(|_| unreadable())?;
                let sealed = Sealed::from_bytes(bytes).map_err(|_| unreadable())?;
                keyring
                    .open(
                        Binding {
                            tenant: owner,
                            provider,
                            field: name,
                        },
                        &sealed,
                    )
                    .map_err(|_| unreadable())?
                    .expose_secret()
                    .to_owned()
            }
        };
        out.push((name.clone(), value));
    }
    Ok(Opened {
        secret,
        fields: out,
    })
}

/// The non-secret fields of a stored row, for display.
pub fn plain_fields(fields_json: Option<&str>) -> BTreeMap<String, String> {
    let fields: BTreeMap<String, StoredField> = fields_json
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default();
    fields
        .into_iter()
        .filter(|(n, _)| n != "$main")
        .filter_map(|(n, v)| match v {
            StoredField::Plain(v) => Some((n, v)),
            StoredField::Sealed(_) => None,
        })
        .collect()
}

/// A stored credential re-sealed under the keyring's primary key.
pub struct Resealed {
    pub secret: Vec<u8>,
    pub fields: Option<String>,
    pub key_id: String,
}

/// Why a stored value could not be re-sealed: the keyring lacks its key, or it does not open.
pub struct NotResealed;

/// Re-seals every sealed part of a stored credential (the main secret and any sealed field)
/// that another key sealed; parts already under the primary key are checked and kept as they
/// are. The plaintext never leaves this function.
pub fn reseal(
    keyring: &Keyring,
    owner: Owner<'_>,
    provider: &ProviderKey,
    secret: &[u8],
    fields_json: Option<&str>,
) -> Result<Resealed, NotResealed> {
    let (mut fields, main_name) = stored_fields(fields_json).ok_or(NotResealed)?;
    fn binding<'a>(owner: Owner<'a>, provider: &'a ProviderKey, field: &'a str) -> Binding<'a> {
        Binding {
            tenant: owner,
            provider,
            field,
        }
    }
    let sealed = Sealed::from_bytes(secret.to_vec()).map_err(|_| NotResealed)?;
    let main = match keyring
        .reseal(binding(owner, provider, &main_name), &sealed, &mut JsRng)
        .map_err(|_| NotResealed)?
    {
        Some(new) => new,
        None => sealed,
    };
    let mut changed_fields = false;
    for (name, stored) in fields.iter_mut() {
        if let StoredField::Sealed(b64) = stored {
            let bytes = STANDARD.decode(b64.as_bytes()).map_err(|_| NotResealed)?;
            let old = Sealed::from_bytes(bytes).map_err(|_| NotResealed)?;
            if let Some(new) = keyring
                .reseal(binding(owner, provider, name), &old, &mut JsRng)
                .map_err(|_| NotResealed)?
            {
                *b64 = STANDARD.encode(new.as_bytes());
                changed_fields = true;
            }
        }
    }
    let fields = match (fields_json, changed_fields) {
        (Some(_), true) => Some(serde_json::to_string(&fields).map_err(|_| NotResealed)?),
        (original, _) => original.map(str::to_owned),
    };
    Ok(Resealed {
        key_id: main.key_id().to_owned(),
        secret: main.into_bytes(),
        fields,
    })
}
