//! The Worker's SQL run natively against the migrated schema (SQLite, the engine under D1):
//! the guards that keep a result from being recorded against the wrong key.

use rusqlite::{params, Connection};

use super::{INSERT_EVENT, RECORD_TEST};

/// A database with every migration applied, in order, as `wrangler d1 migrations apply` does.
pub(crate) fn migrated() -> Connection {
    let db = Connection::open_in_memory().expect("sqlite");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for f in files {
        db.execute_batch(&std::fs::read_to_string(&f).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    db
}

const T: &str = "2026-11-30T10:00:00.000Z";
const LATER: &str = "2026-11-30T10:00:05.000Z";

/// One installed integration holding the sealed value `sealed`, saved at `T`.
fn installed(db: &Connection, sealed: &[u8]) {
    db.execute(
        "INSERT INTO integration_providers (key, spec, created_at, updated_at) VALUES ('openai', '{}', ?1, ?1)",
        [T],
    )
    .expect("provider");
    db.execute(
        "INSERT INTO integrations (tenant, provider, status, secret, installed_at, updated_at)
         VALUES ('acme', 'openai', 'unverified', ?1, ?2, ?2)",
        params![sealed, T],
    )
    .expect("integration");
}

/// A second key saved in the same millisecond: a new sealed value, the same `updated_at`.
fn saved_again_same_millisecond(db: &Connection, sealed: &[u8]) {
    db.execute(
        "UPDATE integrations SET secret = ?1, updated_at = ?2 WHERE tenant = 'acme' AND provider = 'openai'",
        params![sealed, T],
    )
    .expect("save");
}

fn record(db: &Connection, since: &str, sealed: &[u8]) -> usize {
    db.execute(
        RECORD_TEST,
        params![
            "acme",
            "openai",
            "invalid",
            "{}",
            since,
            LATER,
            1,
            1_764_496_805_000_i64,
            LATER,
            0,
            sealed
        ],
    )
    .expect("record")
}

#[test]
fn a_result_is_recorded_against_the_key_tested_not_one_saved_in_the_same_millisecond() {
    let db = migrated();
    let (tested, newer) = (
        b"sealed-A-nonce-1".as_slice(),
        b"sealed-B-nonce-2".as_slice(),
    );
    installed(&db, tested);
    saved_again_same_millisecond(&db, newer);
    // The test of A finishes: same updated_at, but the row now holds B.
    assert_eq!(record(&db, T, tested), 0, "A's verdict never lands on B");
    let status: String = db
        .query_row("SELECT status FROM integrations", [], |r| r.get(0))
        .expect("row");
    assert_eq!(status, "unverified", "B keeps its own state");
    // B's own test is recorded.
    assert_eq!(record(&db, T, newer), 1);
    // And a row changed since (another updated_at) is not overwritten either.
    assert_eq!(
        record(&db, T, newer),
        0,
        "the first record moved updated_at"
    );
}

#[test]
fn an_event_is_stored_only_with_the_change_it_records() {
    let db = migrated();
    let (tested, newer) = (b"sealed-A".as_slice(), b"sealed-B".as_slice());
    installed(&db, tested);
    saved_again_same_millisecond(&db, newer);
    let insert = |guard_at: Option<&str>, guard_sealed: Option<&[u8]>, id: &str| {
        db.execute(
            INSERT_EVENT,
            params![
                id,
                "acme",
                "openai",
                "unverified",
                "invalid",
                "{}",
                T,
                "none",
                guard_at,
                guard_sealed
            ],
        )
        .expect("event")
    };
    assert_eq!(
        insert(Some(T), Some(tested), "e1"),
        0,
        "A's change did not apply"
    );
    assert_eq!(insert(Some(T), Some(newer), "e2"), 1, "B's did");
    assert_eq!(insert(None, None, "e3"), 1, "unguarded events are stored");
}
