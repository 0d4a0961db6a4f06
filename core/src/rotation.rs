//! Retiring a master key: what the operator sees of the keyring in use, and what one pass of
//! re-sealing asks and answers.
//!
//! The procedure (README, "Rotating the master key"): `byok keyring rotate` adds a primary key,
//! the new document is deployed as the `BYOK_KEYRING` secret, `POST /v1/admin/keyring/reseal`
//! is called until nothing remains under the old key, and the old key is dropped. The Worker
//! does the reading and writing; the decisions (which ids are in use, how much remains, how
//! large a pass is, where the next one starts) are these pure functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{ProviderKey, TenantId};
use crate::keyring::Keyring;

/// Rows re-sealed by one pass when the request does not say.
pub const DEFAULT_BATCH: u32 = 100;
/// The most rows one pass may take: one D1 batch of updates, well inside a Worker's CPU time.
pub const MAX_BATCH: u32 = 500;

/// How many stored values are sealed under one key id (as storage counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub key_id: String,
    pub integrations: u64,
    pub platform_keys: u64,
}

/// One key id: whether the keyring holds it, whether it is primary, what is sealed under it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub id: String,
    pub primary: bool,
    /// `false`: values are sealed under a key the deployed keyring lacks; they cannot be read
    /// until the key is put back.
    pub in_keyring: bool,
    pub integrations: u64,
    pub platform_keys: u64,
}

/// `GET /v1/admin/keyring`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyringReport {
    pub primary: String,
    /// Every key the keyring holds and every key id found in storage, by id.
    pub keys: Vec<KeyStatus>,
    /// Values sealed under a key other than the primary: what a reseal still has to do.
    pub remaining: u64,
}

/// The keyring as deployed, against what storage holds.
pub fn report(keyring: &Keyring, uses: &[KeyUse]) -> KeyringReport {
    let mut keys: BTreeMap<&str, KeyStatus> = keyring
        .key_ids()
        .map(|id| {
            (
                id.as_str(),
                KeyStatus {
                    id: id.as_str().to_owned(),
                    primary: id == keyring.primary(),
                    in_keyring: true,
                    integrations: 0,
                    platform_keys: 0,
                },
            )
        })
        .collect();
    for u in uses {
        let k = keys.entry(u.key_id.as_str()).or_insert_with(|| KeyStatus {
            id: u.key_id.clone(),
            primary: false,
            in_keyring: false,
            integrations: 0,
            platform_keys: 0,
        });
        k.integrations += u.integrations;
        k.platform_keys += u.platform_keys;
    }
    let keys: Vec<KeyStatus> = keys.into_values().collect();
    KeyringReport {
        primary: keyring.primary().as_str().to_owned(),
        remaining: remaining(&keys).values().sum(),
        keys,
    }
}

/// Per non-primary key id, how many values are still sealed under it (ids with none left
/// are omitted, so an empty map means the old keys can be dropped).
pub fn remaining(keys: &[KeyStatus]) -> BTreeMap<String, u64> {
    keys.iter()
        .filter(|k| !k.primary)
        .map(|k| (k.id.clone(), k.integrations + k.platform_keys))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// An integration row, as the resume point of a pass.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRef {
    pub tenant: TenantId,
    pub provider: ProviderKey,
}

/// `POST /v1/admin/keyring/reseal`. Every field is optional; an empty body is a first pass
/// of the default size.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResealRequest {
    /// Rows to take in this pass: 1 to 500 (default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub batch: Option<u32>,
    /// Continue after this row (the `next` of the previous answer). Absent: start from the
    /// first row, and re-seal the platform's keys too.
    #[serde(default)]
    pub after: Option<RowRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch must be between 1 and {MAX_BATCH} (it is {0})")]
pub struct BatchOutOfRange(pub u32);

impl ResealRequest {
    pub fn batch(&self) -> Result<u32, BatchOutOfRange> {
        match self.batch {
            None => Ok(DEFAULT_BATCH),
            Some(n @ 1..=MAX_BATCH) => Ok(n),
            Some(n) => Err(BatchOutOfRange(n)),
        }
    }
}

/// A row that could not be re-sealed because it does not open: sealed under a key the
/// keyring lacks, or altered. Names the row, never a value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The tenant, or absent for a platform key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub provider: String,
    pub key_id: String,
}

/// The answer to one pass.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResealReport {
    pub primary: String,
    /// Tenant rows re-sealed under the primary key by this pass.
    pub resealed: u64,
    /// Platform fallback keys re-sealed by this pass (first pass only).
    pub platform_keys_resealed: u64,
    /// Rows changed by someone else between read and write (a save, a test): left as they
    /// are, and taken again by a later pass if still under an old key.
    pub changed_meanwhile: u64,
    pub unreadable: Vec<Unreadable>,
    /// After this pass: per old key id, how many values are still sealed under it.
    pub remaining: BTreeMap<String, u64>,
    /// Where the next pass starts; absent when this pass reached the end of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<RowRef>,
}

/// Where the next pass starts: after the last row read, when the pass was full (there may be
/// more); none when it read fewer rows than it could (it reached the end).
pub fn next_after(batch: u32, read: &[RowRef]) -> Option<RowRef> {
    if (read.len() as u64) < u64::from(batch) {
        None
    } else {
        read.last().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{KeyId, KeyringDocument};
    use proptest::prelude::*;
    use rand_core::OsRng;

    fn ring(ids: &[&str]) -> Keyring {
        let mut doc =
            KeyringDocument::generate(KeyId::parse(ids[0]).expect("id"), &mut OsRng).expect("doc");
        for id in &ids[1..] {
            doc.rotate(KeyId::parse(id).expect("id"), &mut OsRng)
                .expect("rotate");
        }
        Keyring::from_document(&doc).expect("load")
    }

    fn uses(k: &str, integrations: u64, platform_keys: u64) -> KeyUse {
        KeyUse {
            key_id: k.into(),
            integrations,
            platform_keys,
        }
    }

    #[test]
    fn after_a_rotation_the_old_key_is_what_remains() {
        let r = report(&ring(&["k1", "k2"]), &[uses("k1", 7, 1), uses("k2", 3, 0)]);
        assert_eq!(r.primary, "k2");
        assert_eq!(r.remaining, 8);
        assert_eq!(
            r.keys,
            vec![
                KeyStatus {
                    id: "k1".into(),
                    primary: false,
                    in_keyring: true,
                    integrations: 7,
                    platform_keys: 1
                },
                KeyStatus {
                    id: "k2".into(),
                    primary: true,
                    in_keyring: true,
                    integrations: 3,
                    platform_keys: 0
                },
            ]
        );
        assert_eq!(remaining(&r.keys), BTreeMap::from([("k1".to_owned(), 8)]));
    }

    #[test]
    fn a_key_in_storage_but_not_in_the_keyring_is_flagged() {
        let r = report(&ring(&["k2"]), &[uses("k1", 2, 0)]);
        let k1 = r.keys.iter().find(|k| k.id == "k1").expect("k1 listed");
        assert!(!k1.in_keyring && !k1.primary);
        assert_eq!(r.remaining, 2);
    }

    #[test]
    fn a_finished_rotation_leaves_nothing() {
        let r = report(&ring(&["k1", "k2"]), &[uses("k2", 10, 2)]);
        assert_eq!(r.remaining, 0);
        assert!(remaining(&r.keys).is_empty());
        assert_eq!(r.keys.len(), 2, "the old key is still listed, with no rows");
    }

    #[test]
    fn batch_sizes() {
        assert_eq!(ResealRequest::default().batch(), Ok(DEFAULT_BATCH));
        for n in [1, 50, MAX_BATCH] {
            let req = ResealRequest {
                batch: Some(n),
                after: None,
            };
            assert_eq!(req.batch(), Ok(n));
        }
        for n in [0, MAX_BATCH + 1, u32::MAX] {
            let req = ResealRequest {
                batch: Some(n),
                after: None,
            };
            assert_eq!(req.batch(), Err(BatchOutOfRange(n)));
        }
    }

    #[test]
    fn requests_refuse_unknown_fields_and_bad_ids() {
        assert!(serde_json::from_str::<ResealRequest>(r#"{"batches": 3}"#).is_err());
        assert!(serde_json::from_str::<ResealRequest>(
            r#"{"after": {"tenant": "../x", "provider": "openai"}}"#
        )
        .is_err());
        let ok: ResealRequest =
            serde_json::from_str(r#"{"after": {"tenant": "t1", "provider": "openai"}}"#)
                .expect("valid");
        assert_eq!(ok.after.expect("after").tenant.as_str(), "t1");
    }

    fn row(t: &str, p: &str) -> RowRef {
        RowRef {
            tenant: TenantId::parse(t).expect("tenant"),
            provider: ProviderKey::parse(p).expect("provider"),
        }
    }

    #[test]
    fn a_full_pass_continues_after_its_last_row() {
        let read = vec![row("a", "openai"), row("b", "stripe")];
        assert_eq!(next_after(2, &read), Some(row("b", "stripe")));
        assert_eq!(next_after(3, &read), None);
        assert_eq!(next_after(1, &[]), None);
    }

    proptest! {
        /// Whatever storage holds: every keyring key is listed once, exactly one is primary,
        /// and what remains is everything not under the primary.
        #[test]
        fn reports_account_for_every_value(
            stored in proptest::collection::vec((0usize..5, 0u64..50, 0u64..3), 0..8),
            kept in 1usize..4,
        ) {
            let names = ["k0", "k1", "k2", "k3", "k4"];
            let keyring = ring(&names[..kept]);
            let uses: Vec<KeyUse> = stored.iter().map(|(k, i, p)| uses(names[*k], *i, *p)).collect();
            let r = report(&keyring, &uses);
            let primary = names[kept - 1];
            prop_assert_eq!(r.keys.iter().filter(|k| k.primary).count(), 1);
            prop_assert_eq!(r.primary.as_str(), primary);
            for id in &names[..kept] {
                prop_assert_eq!(r.keys.iter().filter(|k| k.id == *id).count(), 1);
            }
            let total: u64 = uses.iter().map(|u| u.integrations + u.platform_keys).sum();
            let under_primary: u64 = uses.iter().filter(|u| u.key_id == primary)
                .map(|u| u.integrations + u.platform_keys).sum();
            prop_assert_eq!(r.remaining, total - under_primary);
            let mut ids: Vec<&str> = r.keys.iter().map(|k| k.id.as_str()).collect();
            let sorted = { let mut s = ids.clone(); s.sort(); s };
            prop_assert_eq!(&ids, &sorted);
            ids.dedup();
            prop_assert_eq!(ids.len(), r.keys.len());
        }
    }
}
