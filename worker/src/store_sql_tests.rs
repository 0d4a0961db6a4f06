//! The Worker's SQL run natively against the migrated schema (SQLite, the engine under D1):
//! the guards that keep a result from being recorded against the wrong key.

use rusqlite::{params, Connection};

use super::{INSERT_EVENT, RECORD_TEST, RESTART_DELIVERY, SET_DELIVERY, STALL_DELIVERIES};

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

/// An event stored `pending` at `at` (its first series starts then).
fn pending_event(db: &Connection, id: &str, at: &str) {
    db.execute(
        INSERT_EVENT,
        params![
            id,
            "acme",
            "openai",
            "unverified",
            "connected",
            "{}",
            at,
            "pending",
            None::<&str>,
            None::<&[u8]>
        ],
    )
    .expect("event");
}

fn state(db: &Connection, id: &str) -> (String, i64, i64) {
    db.query_row(
        "SELECT delivery, series, attempts FROM status_events WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("state")
}

#[test]
fn a_leftover_attempt_of_a_replaced_series_cannot_overwrite_the_new_one() {
    let db = migrated();
    pending_event(&db, "msg_a", T);
    // Series 0 dies after its attempts.
    let set = |series: i64, delivery: &str, attempts: i64| {
        db.execute(
            SET_DELIVERY,
            params!["msg_a", delivery, attempts, series, 1_000_i64],
        )
        .expect("set")
    };
    assert_eq!(set(0, "dead", 8), 1);
    // An admin redelivers: series 1, pending, no attempts yet.
    let series: i64 = db
        .query_row(RESTART_DELIVERY, params!["msg_a", "dead", 2_000_i64], |r| {
            r.get(0)
        })
        .expect("restart");
    assert_eq!(series, 1);
    assert_eq!(state(&db, "msg_a"), ("pending".into(), 1, 0));
    // A retry of series 0 that was still out reports "dead" after the restart: ignored.
    assert_eq!(set(0, "dead", 9), 0, "a stale attempt changes nothing");
    assert_eq!(state(&db, "msg_a"), ("pending".into(), 1, 0));
    assert_eq!(set(1, "delivered", 1), 1);
    assert_eq!(state(&db, "msg_a"), ("delivered".into(), 1, 1));
    // Two admins at once: the second restart finds the state moved and starts nothing.
    let again = db
        .query_row(RESTART_DELIVERY, params!["msg_a", "dead", 3_000_i64], |r| {
            r.get::<_, i64>(0)
        })
        .ok();
    assert_eq!(again, None);
}

#[test]
fn a_pending_event_that_stopped_moving_is_dead_lettered_and_a_moving_one_is_not() {
    let db = migrated();
    // The insert starts the series at the event's time.
    pending_event(&db, "msg_old", "2026-11-01T00:00:00.000Z");
    pending_event(&db, "msg_new", "2026-11-30T09:59:00.000Z");
    let started: i64 = db
        .query_row(
            "SELECT attempted_at FROM status_events WHERE id = 'msg_old'",
            [],
            |r| r.get(0),
        )
        .expect("attempted_at");
    assert_eq!(started, 1_793_491_200_000, "2026-11-01T00:00:00Z in ms");
    // A delivered event older still is never touched.
    pending_event(&db, "msg_done", "2026-10-01T00:00:00.000Z");
    db.execute(
        SET_DELIVERY,
        params!["msg_done", "delivered", 1, 0, 1_790_812_800_000_i64],
    )
    .expect("delivered");
    let cutoff = 1_795_478_400_000_i64; // 2026-11-24
    let changed = db
        .execute(STALL_DELIVERIES, params![cutoff, 500])
        .expect("sweep");
    assert_eq!(changed, 1);
    assert_eq!(state(&db, "msg_old").0, "dead");
    assert_eq!(state(&db, "msg_new").0, "pending");
    assert_eq!(state(&db, "msg_done").0, "delivered");
}
