//! Encryption of stored credentials: AES-256-GCM with key rotation.
//!
//! - Every seal draws a fresh random 96-bit nonce from the caller's CSPRNG.
//! - The associated data binds the ciphertext to `tenant | provider | field` (length-prefixed,
//!   so no two bindings encode alike): a ciphertext copied to another tenant's or provider's
//!   row fails to open.
//! - The stored value names the key that sealed it (see [`Sealed`]), so the keyring can rotate: one primary key seals, older keys only open, and
//!   [`Keyring::reseal`] moves an old value to the primary key.
//! - The same keyring holds a separate HMAC key for mask fingerprints, so a fingerprint cannot
//!   be brute-forced offline by whoever reads the database.
//!
//! The keyring comes from one secret (`BYOK_KEYRING`), a JSON document:
//! `{"primary": "k1", "keys": {"k1": "<base64 32 bytes>"}, "fingerprint_key": "<base64 32 bytes>"}`.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::{ProviderKey, TenantId};
use crate::mask::{Fingerprint, Mask};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// The row and field a secret belongs to. Sealing and opening must name the same binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub tenant: Owner<'a>,
    pub provider: &'a ProviderKey,
    pub field: &'a str,
}

/// Whose secret it is: a tenant's, or the platform's fallback key. The platform encodes as
/// `@platform`, which no tenant id can be (`@` is not allowed in one), so a tenant's
/// ciphertext can never open as the platform's or the reverse.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Tenant(&'a TenantId),
    Platform,
}

impl<'a> From<&'a TenantId> for Owner<'a> {
    fn from(t: &'a TenantId) -> Self {
        Owner::Tenant(t)
    }
}

impl<'a> Binding<'a> {
    pub fn tenant(tenant: &'a TenantId, provider: &'a ProviderKey, field: &'a str) -> Self {
        Self {
            tenant: Owner::Tenant(tenant),
            provider,
            field,
        }
    }
    pub fn platform(provider: &'a ProviderKey, field: &'a str) -> Self {
        Self {
            tenant: Owner::Platform,
            provider,
            field,
        }
    }
}

const PURPOSE_SEAL: &[u8] = b"byok/v1/seal";
const PURPOSE_FINGERPRINT: &[u8] = b"byok/v1/fingerprint";

impl Binding<'_> {
    /// Calls `f` with `purpose ‖ len ‖ tenant ‖ len ‖ provider ‖ len ‖ field` (lengths as u16
    /// big-endian, so no two bindings encode alike), built on the stack when it fits.
    fn with_encoded<R>(&self, purpose: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        let owner: &[u8] = match self.tenant {
            Owner::Tenant(t) => t.as_str().as_bytes(),
            Owner::Platform => b"@platform",
        };
        let parts: [&[u8]; 3] = [
            owner,
            self.provider.as_str().as_bytes(),
            self.field.as_bytes(),
        ];
        let len = purpose.len() + parts.iter().map(|p| 2 + p.len()).sum::<usize>();
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap.resize(len, 0);
            &mut heap
        };
        buf[..purpose.len()].copy_from_slice(purpose);
        let mut at = purpose.len();
        for part in parts {
            // Tenant and provider ids are at most 64 bytes; a field name longer than u16::MAX
            // saturates, which still cannot collide with a shorter one of the same prefix.
            let n = u16::try_from(part.len()).unwrap_or(u16::MAX);
            buf[at..at + 2].copy_from_slice(&n.to_be_bytes());
            buf[at + 2..at + 2 + part.len()].copy_from_slice(part);
            at += 2 + part.len();
        }
        f(buf)
    }

    #[cfg(test)]
    fn encode(&self, purpose: &[u8]) -> Vec<u8> {
        self.with_encoded(purpose, <[u8]>::to_vec)
    }
}

/// A key's name inside the keyring: 1-32 characters of `A-Z a-z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<Self, KeyringError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(KeyringError::Config(
                "a key id must be 1-32 characters of A-Z, a-z, 0-9, '_', '-', '.'".to_owned(),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyringError;
    fn try_from(s: String) -> Result<Self, KeyringError> {
        Self::parse(&s)
    }
}
impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}
impl std::borrow::Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Errors never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring configuration is invalid: {0}")]
    Config(String),
    #[error("stored secret is malformed: {0}")]
    Malformed(&'static str),
    #[error("stored secret was sealed with key '{0}', which this keyring does not hold")]
    UnknownKey(KeyId),
    #[error(
        "stored secret does not open with key '{0}' for this tenant, provider and field: \
         it was altered, moved from another row, or the keyring is wrong"
    )]
    Unauthentic(KeyId),
    #[error("no randomness available for a nonce")]
    Randomness,
}

/// A sealed secret as stored (a D1 `BLOB`):
/// `0x01 ‖ key id length (u8) ‖ key id ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
///
/// Binary rather than text: nothing to encode or decode on the resolve path.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

const FORMAT_V1: u8 = 1;

impl Sealed {
    /// Checks the framing of stored bytes (not their authenticity: [`Keyring::open`] does).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, KeyringError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(KeyringError::Malformed("empty"))?;
        if version != FORMAT_V1 {
            return Err(KeyringError::Malformed("unknown format version"));
        }
        let (&kid_len, rest) = rest
            .split_first()
            .ok_or(KeyringError::Malformed("too short"))?;
        let kid_len = usize::from(kid_len);
        if rest.len() < kid_len + NONCE_LEN + TAG_LEN {
            return Err(KeyringError::Malformed("too short"));
        }
        let kid = std::str::from_utf8(&rest[..kid_len])
            .map_err(|_| KeyringError::Malformed("bad key id"))?;
        KeyId::parse(kid).map_err(|_| KeyringError::Malformed("bad key id"))?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The id of the key that sealed this value.
    pub fn key_id(&self) -> &str {
        self.parts().0
    }

    /// (key id, nonce, ciphertext, tag); the framing was checked on construction.
    fn parts(&self) -> (&str, &[u8], &[u8], &[u8]) {
        let kid_len = usize::from(self.0[1]);
        let (kid, rest) = self.0[2..].split_at(kid_len);
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        (
            std::str::from_utf8(kid).unwrap_or_default(),
            nonce,
            ciphertext,
            tag,
        )
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id())
            .field("len", &self.0.len())
            .finish()
    }
}

/// The JSON document of the `BYOK_KEYRING` secret.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringDocument {
    pub primary: KeyId,
    pub keys: BTreeMap<KeyId, String>,
    pub fingerprint_key: String,
}

impl KeyringDocument {
    /// A new document with one fresh primary key and a fresh fingerprint key.
    pub fn generate(id: KeyId, rng: &mut impl CryptoRngCore) -> Result<Self, KeyringError> {
        let mut doc = Self {
            primary: id.clone(),
            keys: BTreeMap::new(),
            fingerprint_key: random_b64(rng)?,
        };
        doc.keys.insert(id, random_b64(rng)?);
        Ok(doc)
    }

    /// Adds a fresh key and makes it primary; older keys stay to open old values.
    pub fn rotate(&mut self, id: KeyId, rng: &mut impl CryptoRngCore) -> Result<(), KeyringError> {
        if self.keys.contains_key(&id) {
            return Err(KeyringError::Config(format!(
                "key id '{id}' is already used"
            )));
        }
        self.keys.insert(id.clone(), random_b64(rng)?);
        self.primary = id;
        Ok(())
    }

    pub fn to_json(&self) -> Zeroizing<String> {
        // Serialising a struct of strings and maps cannot fail.
        Zeroizing::new(serde_json::to_string(self).unwrap_or_default())
    }
}

impl Drop for KeyringDocument {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.fingerprint_key.zeroize();
        for v in self.keys.values_mut() {
            v.zeroize();
        }
    }
}

fn derive(key: &[u8], purpose: &str) -> Zeroizing<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(b"byok/v1/derive/");
    mac.update(purpose.as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

fn random_b64(rng: &mut impl CryptoRngCore) -> Result<String, KeyringError> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    rng.try_fill_bytes(k.as_mut())
        .map_err(|_| KeyringError::Randomness)?;
    Ok(STANDARD.encode(k.as_ref()))
}

fn decode_key(what: &str, b64: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyringError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyringError::Config(format!("{what} is not base64")))?,
    );
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(KeyringError::Config(format!(
            "{what} must be {KEY_LEN} bytes (got {})",
            bytes.len()
        )));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// The loaded keyring. Its `Debug` shows key ids only.
pub struct Keyring {
    primary: KeyId,
    ciphers: BTreeMap<KeyId, Aes256Gcm>,
    fingerprint_key: Zeroizing<[u8; KEY_LEN]>,
    /// The primary key's bytes, kept only to derive keys that rotate with it.
    primary_key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field("keys", &self.ciphers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads the `BYOK_KEYRING` document. Fails loudly on anything short of a usable keyring.
    pub fn from_json(json: &str) -> Result<Self, KeyringError> {
        let doc: KeyringDocument = serde_json::from_str(json).map_err(|e| {
            // serde's message may quote input; keep only its category and position.
            KeyringError::Config(format!(
                "not a keyring document ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Self::from_document(&doc)
    }

    pub fn from_document(doc: &KeyringDocument) -> Result<Self, KeyringError> {
        if !doc.keys.contains_key(&doc.primary) {
            return Err(KeyringError::Config(format!(
                "primary key '{}' is not among the keys",
                doc.primary
            )));
        }
        let mut ciphers = BTreeMap::new();
        let mut primary_key = Zeroizing::new([0u8; KEY_LEN]);
        for (id, b64) in &doc.keys {
            let key = decode_key(&format!("key '{id}'"), b64)?;
            ciphers.insert(id.clone(), Aes256Gcm::new(key.as_ref().into()));
            if *id == doc.primary {
                primary_key.copy_from_slice(key.as_ref());
            }
        }
        Ok(Self {
            primary: doc.primary.clone(),
            ciphers,
            fingerprint_key: decode_key("fingerprint_key", &doc.fingerprint_key)?,
            primary_key,
        })
    }

    pub fn primary(&self) -> &KeyId {
        &self.primary
    }

    /// The ids of every key this keyring holds (the primary and those kept for opening).
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.ciphers.keys()
    }

    /// Whether this keyring holds the key `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.ciphers.contains_key(id)
    }

    /// Seals `plaintext` for `binding` with the primary key and a fresh random nonce.
    pub fn seal(
        &self,
        binding: Binding<'_>,
        plaintext: &SecretString,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Sealed, KeyringError> {
        let cipher = self
            .ciphers
            .get(self.primary.as_str())
            .ok_or_else(|| KeyringError::UnknownKey(self.primary.clone()))?;
        let kid = self.primary.as_str().as_bytes();
        let msg = plaintext.expose_secret().as_bytes();
        let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + msg.len() + TAG_LEN);
        out.push(FORMAT_V1);
        // Key ids are at most 32 bytes (KeyId::parse).
        out.push(kid.len() as u8);
        out.extend_from_slice(kid);
        let nonce_at = out.len();
        out.resize(nonce_at + NONCE_LEN, 0);
        rng.try_fill_bytes(&mut out[nonce_at..])
            .map_err(|_| KeyringError::Randomness)?;
        let nonce = *Nonce::from_slice(&out[nonce_at..]);
        let msg_at = out.len();
        out.extend_from_slice(msg);
        let tag = binding
            .with_encoded(PURPOSE_SEAL, |aad| {
                cipher.encrypt_in_place_detached(&nonce, aad, &mut out[msg_at..])
            })
            // AES-GCM encryption fails only for messages beyond 64 GiB.
            .map_err(|_| KeyringError::Malformed("plaintext too long"))?;
        out.extend_from_slice(&tag);
        Ok(Sealed(out))
    }

    /// Opens a sealed value; fails if it was sealed for another binding, altered, or sealed
    /// with a key this keyring does not hold.
    pub fn open(
        &self,
        binding: Binding<'_>,
        sealed: &Sealed,
    ) -> Result<SecretString, KeyringError> {
        let (kid, nonce, ciphertext, tag) = sealed.parts();
        let unknown = || KeyringError::UnknownKey(KeyId(kid.to_owned()));
        let cipher = self.ciphers.get(kid).ok_or_else(unknown)?;
        // Decrypt into a buffer of exactly the plaintext's size, so that it becomes the
        // secret's storage without another copy. The tag is checked before anything is
        // decrypted, so on failure the buffer holds only ciphertext.
        let mut buf = ciphertext.to_vec();
        binding
            .with_encoded(PURPOSE_SEAL, |aad| {
                cipher.decrypt_in_place_detached(
                    Nonce::from_slice(nonce),
                    aad,
                    &mut buf,
                    Tag::from_slice(tag),
                )
            })
            .map_err(|_| KeyringError::Unauthentic(KeyId(kid.to_owned())))?;
        match String::from_utf8(buf) {
            Ok(text) => Ok(SecretString::from(text)),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(KeyringError::Malformed("plaintext is not UTF-8"))
            }
        }
    }

    /// Re-seals a value under the primary key if another key sealed it (rotation).
    /// `Ok(None)` means it is already sealed with the primary key.
    pub fn reseal(
        &self,
        binding: Binding<'_>,
        sealed: &Sealed,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Option<Sealed>, KeyringError> {
        if sealed.key_id() == self.primary.as_str() {
            // Still check it opens: a rotation pass doubles as an integrity check.
            self.open(binding, sealed)?;
            return Ok(None);
        }
        let plain = self.open(binding, sealed)?;
        self.seal(binding, &plain, rng).map(Some)
    }

    /// A keyed fingerprint of a secret for this binding: stable for the same key in the same
    /// row, useless to anyone without the keyring.
    pub fn fingerprint(&self, binding: Binding<'_>, secret: &SecretString) -> Fingerprint {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.fingerprint_key.as_ref())
            .expect("HMAC accepts any key length");
        binding.with_encoded(PURPOSE_FINGERPRINT, |b| mac.update(b));
        mac.update(secret.expose_secret().as_bytes());
        Fingerprint::from_digest(&mac.finalize().into_bytes())
    }

    /// A 32-byte key for another purpose that must stay stable across rotations, derived from
    /// the fingerprint key with HMAC-SHA256 under a purpose label.
    pub fn derive_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        derive(self.fingerprint_key.as_ref(), purpose)
    }

    /// A 32-byte key for another purpose that rotates with the primary key (e.g. authenticating
    /// plugin artifacts: after a rotation, what the old key vouched for is no longer trusted),
    /// and the id of the key it was derived from.
    pub fn derive_rotating_key(&self, purpose: &str) -> (&KeyId, Zeroizing<[u8; 32]>) {
        (&self.primary, derive(self.primary_key.as_ref(), purpose))
    }

    /// The mask to show for a secret in this binding.
    pub fn mask(&self, binding: Binding<'_>, secret: &SecretString) -> Mask {
        Mask::new(secret, self.fingerprint(binding, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn ids() -> (TenantId, TenantId, ProviderKey, ProviderKey) {
        (
            TenantId::parse("tenant-a").expect("id"),
            TenantId::parse("tenant-b").expect("id"),
            ProviderKey::parse("anthropic").expect("id"),
            ProviderKey::parse("openai").expect("id"),
        )
    }

    fn keyring(id: &str) -> (Keyring, KeyringDocument) {
        let doc =
            KeyringDocument::generate(KeyId::parse(id).expect("id"), &mut OsRng).expect("generate");
        (Keyring::from_document(&doc).expect("load"), doc)
    }

    fn secret() -> SecretString {
        SecretString::from("sk-test-0123456789abcdefghijklmnop")
    }

    #[test]
    fn round_trip() {
        let (ring, _) = keyring("k1");
        let (ta, _, pa, _) = ids();
        let b = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let sealed = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        let stored = sealed.into_bytes();
        assert_eq!(&stored[..4], b"\x01\x02k1", "format, key id");
        assert!(!stored.windows(7).any(|w| w == b"sk-test"));
        let parsed = Sealed::from_bytes(stored).expect("framing");
        assert_eq!(parsed.key_id(), "k1");
        let opened = ring.open(b, &parsed).expect("open");
        assert_eq!(opened.expose_secret(), secret().expose_secret());
    }

    #[test]
    fn nonces_are_fresh_per_seal() {
        let (ring, _) = keyring("k1");
        let (ta, _, pa, _) = ids();
        let b = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let one = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        let two = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        let nonce = |s: &Sealed| s.parts().1.to_vec();
        assert_ne!(nonce(&one), nonce(&two));
        assert_ne!(one.parts().2, two.parts().2);
    }

    #[test]
    fn tampering_is_detected() {
        let (ring, _) = keyring("k1");
        let (ta, _, pa, _) = ids();
        let b = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let sealed = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        let bytes = sealed.as_bytes();
        let header = 2 + "k1".len();
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x01;
            let result = Sealed::from_bytes(bad).and_then(|s| ring.open(b, &s));
            match result {
                Err(KeyringError::Unauthentic(_)) => assert!(i >= header),
                Err(KeyringError::Malformed(_) | KeyringError::UnknownKey(_)) => {
                    assert!(i < header, "byte {i} is past the header")
                }
                other => panic!("flipping byte {i} must be detected, got {other:?}"),
            }
        }
        for len in [0, 1, header, header + NONCE_LEN + TAG_LEN - 1] {
            assert!(matches!(
                Sealed::from_bytes(bytes[..len].to_vec()),
                Err(KeyringError::Malformed(_))
            ));
        }
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let (ring, _) = keyring("k1");
        let (ta, tb, pa, pb) = ids();
        let sealed = ring
            .seal(
                Binding {
                    tenant: Owner::Tenant(&ta),
                    provider: &pa,
                    field: "key",
                },
                &secret(),
                &mut OsRng,
            )
            .expect("seal");
        for (tenant, provider, field) in [
            (&tb, &pa, "key"),
            (&ta, &pb, "key"),
            (&ta, &pa, "auth_token"),
        ] {
            let err = ring
                .open(
                    Binding {
                        tenant: Owner::Tenant(tenant),
                        provider,
                        field,
                    },
                    &sealed,
                )
                .map(|_| ())
                .expect_err("moved ciphertext must not open");
            assert!(matches!(err, KeyringError::Unauthentic(_)));
        }
    }

    #[test]
    fn a_tenant_ciphertext_never_opens_as_the_platform_key() {
        let (ring, _) = keyring("k1");
        let (ta, _, pa, _) = ids();
        let sealed = ring
            .seal(Binding::tenant(&ta, &pa, "key"), &secret(), &mut OsRng)
            .expect("seal");
        let err = ring
            .open(Binding::platform(&pa, "key"), &sealed)
            .map(|_| ());
        assert!(matches!(err, Err(KeyringError::Unauthentic(_))));
        let platform = ring
            .seal(Binding::platform(&pa, "key"), &secret(), &mut OsRng)
            .expect("seal");
        assert!(ring.open(Binding::platform(&pa, "key"), &platform).is_ok());
        assert!(ring
            .open(Binding::tenant(&ta, &pa, "key"), &platform)
            .is_err());
    }

    #[test]
    fn bindings_encode_unambiguously() {
        let (ta, _, pa, _) = ids();
        let t2 = TenantId::parse("tenant-ab").expect("id");
        let one = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "bkey",
        }
        .encode(b"p");
        let two = Binding {
            tenant: Owner::Tenant(&t2),
            provider: &pa,
            field: "key",
        }
        .encode(b"p");
        assert_ne!(one, two);
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_reseals_them() {
        let (ta, _, pa, _) = ids();
        let b = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let (old_ring, mut doc) = keyring("k1");
        let old = old_ring.seal(b, &secret(), &mut OsRng).expect("seal");

        doc.rotate(KeyId::parse("k2").expect("id"), &mut OsRng)
            .expect("rotate");
        let ring = Keyring::from_document(&doc).expect("load");
        assert_eq!(ring.primary().as_str(), "k2");
        assert_eq!(
            ring.open(b, &old).expect("old opens").expose_secret(),
            secret().expose_secret()
        );

        let fresh = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        assert_eq!(fresh.key_id(), "k2");
        let moved = ring
            .reseal(b, &old, &mut OsRng)
            .expect("reseal")
            .expect("needed");
        assert_eq!(moved.key_id(), "k2");
        assert_eq!(
            ring.open(b, &moved).expect("opens").expose_secret(),
            secret().expose_secret()
        );
        assert_eq!(ring.reseal(b, &moved, &mut OsRng).expect("reseal"), None);
        // The old keyring cannot read what the new primary sealed.
        assert_eq!(
            old_ring.open(b, &moved).map(|_| ()),
            Err(KeyringError::UnknownKey(KeyId::parse("k2").expect("id")))
        );
    }

    #[test]
    fn a_wrong_keyring_fails_loudly() {
        let (ta, _, pa, _) = ids();
        let b = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let (ring, _) = keyring("k1");
        let (other, _) = keyring("k1"); // same id, different bytes
        let sealed = ring.seal(b, &secret(), &mut OsRng).expect("seal");
        let err = other
            .open(b, &sealed)
            .map(|_| ())
            .expect_err("wrong keyring");
        assert!(err.to_string().contains("keyring is wrong"), "{err}");
    }

    #[test]
    fn bad_keyring_documents_are_refused_without_echoing_them() {
        let short = STANDARD.encode([7u8; 16]);
        let good = STANDARD.encode([7u8; 32]);
        let cases = [
            ("not json at all", "not a keyring document"),
            (
                r#"{"primary":"k2","keys":{"k1":"AAAA"},"fingerprint_key":"AAAA"}"#,
                "primary key 'k2' is not among",
            ),
            (
                &format!(
                    r#"{{"primary":"k1","keys":{{"k1":"{short}"}},"fingerprint_key":"{good}"}}"#
                ),
                "must be 32 bytes",
            ),
            (
                &format!(r#"{{"primary":"k1","keys":{{"k1":"{good}"}},"fingerprint_key":"%%%"}}"#),
                "fingerprint_key is not base64",
            ),
            (
                &format!(r#"{{"primary":"k:1","keys":{{}},"fingerprint_key":"{good}"}}"#),
                "not a keyring document",
            ),
        ];
        for (doc, want) in cases {
            let err = Keyring::from_json(doc).expect_err("refused").to_string();
            assert!(err.contains(want), "{doc}: {err}");
            assert!(
                !err.contains(&good) && !err.contains(&short),
                "error echoes key material: {err}"
            );
        }
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let (ring, doc) = keyring("k1");
        let shown = format!("{ring:?}");
        assert!(shown.contains("k1"));
        for key in doc.keys.values().chain([&doc.fingerprint_key]) {
            assert!(!shown.contains(key.as_str()));
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_bound() {
        let (ta, tb, pa, _) = ids();
        let (ring, _) = keyring("k1");
        let (other, _) = keyring("k1");
        let a = Binding {
            tenant: Owner::Tenant(&ta),
            provider: &pa,
            field: "key",
        };
        let b = Binding {
            tenant: Owner::Tenant(&tb),
            provider: &pa,
            field: "key",
        };
        assert_eq!(
            ring.fingerprint(a, &secret()),
            ring.fingerprint(a, &secret())
        );
        assert_ne!(
            ring.fingerprint(a, &secret()),
            ring.fingerprint(b, &secret())
        );
        assert_ne!(
            ring.fingerprint(a, &secret()),
            other.fingerprint(a, &secret())
        );
        assert_ne!(
            ring.fingerprint(a, &secret()),
            ring.fingerprint(a, &SecretString::from("sk-test-something-else-entirely"))
        );
    }

    #[test]
    fn rotating_keys_change_with_the_primary_and_stable_ones_do_not() {
        let (ring, mut doc) = keyring("k1");
        let (kid, before) = ring.derive_rotating_key("plugin-artifacts");
        assert_eq!(kid.as_str(), "k1");
        let stable = ring.derive_key("plugin-artifacts");
        assert_ne!(*before, *stable, "the two derivations are separate");
        assert_ne!(*before, *ring.derive_rotating_key("other").1);

        doc.rotate(KeyId::parse("k2").expect("id"), &mut OsRng)
            .expect("rotate");
        let rotated = Keyring::from_document(&doc).expect("load");
        let (kid, after) = rotated.derive_rotating_key("plugin-artifacts");
        assert_eq!(kid.as_str(), "k2");
        assert_ne!(*before, *after, "a rotation changes the key");
        assert_eq!(*stable, *rotated.derive_key("plugin-artifacts"));
        let ids: Vec<&str> = rotated.key_ids().map(KeyId::as_str).collect();
        assert_eq!(ids, ["k1", "k2"]);
        assert!(rotated.holds("k1") && !rotated.holds("k3"));
    }
}
