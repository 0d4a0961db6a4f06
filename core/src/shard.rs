//! Which database holds a tenant (issue #24, past one database; docs/capacity.md).
//!
//! A deployment lists its D1 databases in `D1_SHARDS` (binding names, comma-separated; the
//! first is the home database, which also holds the catalog). A tenant's database is chosen
//! by rendezvous hashing of its id over the names listed: each name scores the tenant, the
//! highest score wins. Nothing is stored to find a tenant, so the lookup costs no query, and
//! adding a database moves only the tenants it now wins (about 1/N of them), each from its
//! old database to the new one, never between old ones: copy those, then list the name.
//!
//! Sans-I/O: the Worker reads the setting and opens the bindings; this decides.

use sha2::{Digest, Sha256};

/// The setting that lists the databases.
pub const D1_SHARDS: &str = "D1_SHARDS";
/// The binding used when the setting is absent: one database, the home one.
pub const HOME: &str = "DB";
/// The most databases a deployment may list: a cross-tenant view asks each one, and a Worker
/// invocation may make 1,000 queries.
pub const MAX_SHARDS: usize = 50;

/// The databases of a deployment, by binding name, the home database first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    names: Vec<String>,
}

/// Why a `D1_SHARDS` value was refused (the value itself is configuration, not a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardMapError {
    #[error("D1_SHARDS lists no database")]
    Empty,
    #[error("D1_SHARDS names {0:?}, which is not a binding name (letters, digits and _, not starting with a digit)")]
    BadName(String),
    #[error("D1_SHARDS names {0:?} twice")]
    Repeated(String),
    #[error("D1_SHARDS lists {0} databases; at most {MAX_SHARDS} are supported")]
    TooMany(usize),
}

impl Default for ShardMap {
    fn default() -> Self {
        Self {
            names: vec![HOME.to_owned()],
        }
    }
}

fn is_binding_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ShardMap {
    /// The map a `D1_SHARDS` value describes; absent or blank: the home database alone.
    pub fn parse(value: Option<&str>) -> Result<Self, ShardMapError> {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let mut names: Vec<String> = Vec::new();
        for name in value.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(ShardMapError::Empty);
            }
            if !is_binding_name(name) {
                return Err(ShardMapError::BadName(name.to_owned()));
            }
            if names.iter().any(|n| n == name) {
                return Err(ShardMapError::Repeated(name.to_owned()));
            }
            names.push(name.to_owned());
        }
        if names.len() > MAX_SHARDS {
            return Err(ShardMapError::TooMany(names.len()));
        }
        Ok(Self { names })
    }

    /// The binding names, the home database first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position in [`Self::names`] of the database that holds `tenant` (a tenant id as
    /// stored, `crate::ids::TenantId`'s text).
    pub fn shard_of(&self, tenant: &str) -> usize {
        if self.names.len() == 1 {
            return 0;
        }
        self.names
            .iter()
            .enumerate()
            .max_by_key(|(_, name)| score(name, tenant))
            .map_or(0, |(i, _)| i)
    }
}

/// Audit ids step by this in every database, so an id's remainder names its database and no
/// two databases ever give the same id.
pub const ID_STRIDE: u64 = 64;
const _: () = assert!(ID_STRIDE >= MAX_SHARDS as u64);
/// Ids a database may take in one millisecond before its ids run ahead of the clock.
const IDS_PER_MS: u64 = 16;

/// The least id a new audit row in database `position` takes at `now_ms`; the statement takes
/// the larger of it and the database's last id plus [`ID_STRIDE`] (`audit_id`). So ids are
/// unique across databases and follow time: a search across them pages by id alone, newest
/// first, as with one database. (Below 2^53 until the year 2248: exact as JSON numbers.)
pub fn audit_id_floor(now_ms: u64, position: usize) -> u64 {
    now_ms
        .saturating_mul(IDS_PER_MS * ID_STRIDE)
        .saturating_add(position as u64 % ID_STRIDE)
}

/// The id the statement gives a row: the floor, or the first id past the database's last one
/// that has the floor's remainder (the database's own). The last id may have another database's
/// remainder (a row copied with its tenant from another database keeps its id), and the next id
/// must still be this database's.
pub fn audit_id(floor: u64, last: Option<u64>) -> u64 {
    last.map_or(floor, |l| {
        floor.max(
            (l / ID_STRIDE)
                .saturating_add(1)
                .saturating_mul(ID_STRIDE)
                .saturating_add(floor % ID_STRIDE),
        )
    })
}

/// The setting that names the databases a move goes to (set only while one is under way).
pub const D1_SHARDS_NEXT: &str = "D1_SHARDS_NEXT";

/// A move of tenants between two lists of databases: `D1_SHARDS` (what serves now) and
/// `D1_SHARDS_NEXT` (what will serve once the tenants that change database are copied). While
/// it is under way, a tenant that changes database is *moving*: its rows are read where they are
/// and nothing about it is written, so the copy is complete when the list changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMove {
    from: ShardMap,
    to: ShardMap,
}

/// Why a `D1_SHARDS_NEXT` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardMoveError {
    #[error("D1_SHARDS_NEXT: {0}")]
    Map(ShardMapError),
    #[error("D1_SHARDS_NEXT must keep the home database first ({0}), which holds the catalog")]
    OtherHome(String),
    #[error("D1_SHARDS_NEXT lists the same databases as D1_SHARDS: no tenant would move")]
    Same,
}

/// Where a moving tenant's rows are and will be: positions in each list, and the bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moving<'a> {
    pub from: usize,
    pub to: usize,
    pub from_name: &'a str,
    pub to_name: &'a str,
}

impl ShardMove {
    /// The move from `from` to the list `next` names; none when `next` is absent or blank.
    pub fn parse(from: &ShardMap, next: Option<&str>) -> Result<Option<Self>, ShardMoveError> {
        let Some(next) = next.filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let to = ShardMap::parse(Some(next)).map_err(ShardMoveError::Map)?;
        if to.names[0] != from.names[0] {
            return Err(ShardMoveError::OtherHome(from.names[0].clone()));
        }
        let mut a = from.names.clone();
        let mut b = to.names.clone();
        a.sort();
        b.sort();
        if a == b {
            return Err(ShardMoveError::Same);
        }
        Ok(Some(Self {
            from: from.clone(),
            to,
        }))
    }

    /// The list the tenants move to.
    pub fn to(&self) -> &ShardMap {
        &self.to
    }

    /// Where `tenant` moves, when it changes database; `None` when it stays where it is.
    pub fn moving(&self, tenant: &str) -> Option<Moving<'_>> {
        let (from, to) = (self.from.shard_of(tenant), self.to.shard_of(tenant));
        let (from_name, to_name) = (&self.from.names[from], &self.to.names[to]);
        (from_name != to_name).then_some(Moving {
            from,
            to,
            from_name,
            to_name,
        })
    }
}

/// A database's score for a tenant: the first 8 bytes of SHA-256 over both, length-prefixed
/// so that no two (name, tenant) pairs hash the same input.
fn score(name: &str, tenant: &str) -> u64 {
    let mut h = Sha256::new();
    h.update((name.len() as u64).to_be_bytes());
    h.update(name.as_bytes());
    h.update(tenant.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use proptest::prelude::*;

    fn tenant(i: u32) -> String {
        TenantId::parse(&format!("tenant-{i}"))
            .expect("tenant id")
            .as_str()
            .to_owned()
    }

    fn map(n: usize) -> ShardMap {
        let names: Vec<String> = std::iter::once(HOME.to_owned())
            .chain((1..n).map(|i| format!("DB_{i}")))
            .collect();
        ShardMap::parse(Some(&names.join(","))).expect("map")
    }

    #[test]
    fn the_setting_names_bindings_once_each_and_defaults_to_the_home_database() {
        assert_eq!(ShardMap::parse(None), Ok(ShardMap::default()));
        assert_eq!(ShardMap::parse(Some("  ")), Ok(ShardMap::default()));
        assert_eq!(
            ShardMap::parse(Some("DB, DB_1")).map(|m| m.names().to_vec()),
            Ok(vec!["DB".to_owned(), "DB_1".to_owned()])
        );
        assert_eq!(ShardMap::parse(Some("DB,,DB_1")), Err(ShardMapError::Empty));
        assert_eq!(
            ShardMap::parse(Some("DB,db-2")),
            Err(ShardMapError::BadName("db-2".into()))
        );
        assert_eq!(
            ShardMap::parse(Some("DB,DB")),
            Err(ShardMapError::Repeated("DB".into()))
        );
        let many: Vec<String> = (0..=MAX_SHARDS).map(|i| format!("DB_{i}")).collect();
        assert_eq!(
            ShardMap::parse(Some(&many.join(","))),
            Err(ShardMapError::TooMany(MAX_SHARDS + 1))
        );
    }

    #[test]
    fn one_database_holds_everyone() {
        let m = ShardMap::default();
        assert!((0..1_000).all(|i| m.shard_of(&tenant(i)) == 0));
    }

    #[test]
    fn tenants_spread_evenly_over_the_databases() {
        let m = map(4);
        let mut counts = [0u32; 4];
        for i in 0..20_000 {
            counts[m.shard_of(&tenant(i))] += 1;
        }
        // 5,000 each expected; a binomial spread is about ±70, so ±400 is far outside chance.
        assert!(
            counts.iter().all(|c| (4_600..=5_400).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_move_keeps_the_home_database_and_changes_something() {
        let from = map(2);
        assert_eq!(ShardMove::parse(&from, None), Ok(None));
        assert_eq!(ShardMove::parse(&from, Some(" ")), Ok(None));
        assert_eq!(
            ShardMove::parse(&from, Some("DB_1,DB")),
            Err(ShardMoveError::OtherHome("DB".into()))
        );
        assert_eq!(
            ShardMove::parse(&from, Some("DB,DB_1")),
            Err(ShardMoveError::Same)
        );
        assert_eq!(
            ShardMove::parse(&from, Some("DB,DB_1,DB_1")),
            Err(ShardMoveError::Map(ShardMapError::Repeated("DB_1".into())))
        );
        let m = ShardMove::parse(&from, Some("DB,DB_1,DB_2"))
            .expect("parses")
            .expect("a move");
        assert_eq!(m.to().names().len(), 3);
    }

    #[test]
    fn a_third_database_takes_about_a_third_of_the_tenants() {
        let m = ShardMove::parse(&map(2), Some("DB,DB_1,DB_2"))
            .expect("parses")
            .expect("a move");
        let moving = (0..9_000)
            .filter(|i| m.moving(&tenant(*i)).is_some())
            .count();
        // 3,000 expected; a binomial spread is about ±45.
        assert!((2_700..=3_300).contains(&moving), "{moving}");
    }

    proptest! {
        /// Rows copied from other databases keep their ids: a database's next ids still have
        /// its own remainder, rise, and never repeat another database's.
        #[test]
        fn audit_ids_stay_a_databases_own_after_rows_are_copied_into_it(
            writes in proptest::collection::vec((0usize..5, 0u64..50, proptest::bool::ANY), 1..300),
        ) {
            let mut clock = 1_764_000_000_000u64;
            let mut last: [Option<u64>; 5] = [None; 5];
            let mut seen = std::collections::HashSet::new();
            for (db, step, copy) in writes {
                clock += step / 10;
                if copy {
                    // A row of database (db + 1) % 5 copied into db, with its id.
                    let other = (db + 1) % 5;
                    let id = audit_id(audit_id_floor(clock, other), last[other]);
                    prop_assert!(seen.insert(id));
                    last[other] = Some(id);
                    last[db] = Some(last[db].map_or(id, |l| l.max(id)));
                    continue;
                }
                let id = audit_id(audit_id_floor(clock, db), last[db]);
                prop_assert!(seen.insert(id), "id {} given twice", id);
                prop_assert_eq!(id % ID_STRIDE, db as u64);
                prop_assert!(last[db].is_none_or(|l| id > l));
                last[db] = Some(id);
            }
        }

        /// A tenant moves exactly when its database's name changes, from where it is to where
        /// it will be; growing by one database moves tenants only to it, and shrinking by one
        /// moves only that database's tenants.
        #[test]
        fn a_move_names_exactly_the_tenants_that_change_database(n in 2usize..7, ids in proptest::collection::vec(0u32..1_000_000, 1..200)) {
            let grow = ShardMove::parse(&map(n), Some(&map(n + 1).names().join(","))).expect("ok").expect("move");
            let shrink = ShardMove::parse(&map(n), Some(&map(n - 1).names().join(","))).expect("ok").expect("move");
            let (before, grown_map, shrunk_map) = (map(n), map(n + 1), map(n - 1));
            for i in ids {
                let t = tenant(i);
                let (now, grown, shrunk) = (before.shard_of(&t), grown_map.shard_of(&t), shrunk_map.shard_of(&t));
                match grow.moving(&t) {
                    Some(m) => {
                        prop_assert_eq!((m.from, m.to, m.to_name), (now, grown, grown_map.names()[n].as_str()));
                        prop_assert_eq!(m.from_name, before.names()[now].as_str());
                    }
                    None => prop_assert_eq!(&before.names()[now], &grown_map.names()[grown]),
                }
                match shrink.moving(&t) {
                    Some(m) => {
                        prop_assert_eq!(m.from, n - 1, "only the dropped database's tenants move");
                        prop_assert_eq!(m.to, shrunk);
                    }
                    None => prop_assert!(now < n - 1),
                }
            }
        }

        /// Audit rows written in any order of time and database: ids never repeat across
        /// databases, rise within each, and an id's remainder names its database.
        #[test]
        fn audit_ids_are_unique_across_databases_and_rise_in_each(
            writes in proptest::collection::vec((0usize..5, 0u64..50), 1..300),
        ) {
            let start = 1_764_000_000_000u64;
            let mut last: [Option<u64>; 5] = [None; 5];
            let mut seen = std::collections::HashSet::new();
            let mut clock = start;
            for (db, step) in writes {
                clock += step / 10; // several writes share a millisecond
                let id = audit_id(audit_id_floor(clock, db), last[db]);
                prop_assert!(seen.insert(id), "id {} given twice", id);
                prop_assert_eq!(id % ID_STRIDE, db as u64);
                prop_assert!(last[db].is_none_or(|l| id > l));
                prop_assert!(id >= audit_id_floor(clock, db));
                prop_assert!(id < (1u64 << 53));
                last[db] = Some(id);
            }
        }

        /// Adding a database moves a tenant only to the new one, never between the old ones,
        /// and the order the names are listed in does not matter.
        #[test]
        fn adding_a_database_moves_tenants_only_to_it(n in 1usize..8, ids in proptest::collection::vec(0u32..1_000_000, 1..200)) {
            let before = map(n);
            let after = map(n + 1);
            let mut reversed: Vec<String> = after.names().to_vec();
            reversed.reverse();
            let reversed = ShardMap::parse(Some(&reversed.join(","))).expect("map");
            for i in ids {
                let t = tenant(i);
                let (old, new) = (before.shard_of(&t), after.shard_of(&t));
                prop_assert!(new == old || new == n, "moved from {old} to {new}");
                prop_assert_eq!(&after.names()[new], &reversed.names()[reversed.shard_of(&t)]);
            }
        }
    }
}
