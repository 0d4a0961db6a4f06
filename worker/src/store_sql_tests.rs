//! The Worker's SQL run natively against the migrated schema (SQLite, the engine under D1):
//! the guards that keep a result from being recorded against the wrong key.

use rusqlite::{params, Connection};

use super::{
    insert_integration_sql, ANCHOR_PROVIDER, COUNT_RECHECK, DROP_PENDING, EXPIRY_CANDIDATES,
    FAILING, FLEET_COUNTS, INSERT_EVENT, MARK_NOTICE, NOTICE_EVENT, PENDING_INCONCLUSIVE,
    PLATFORM_LAST_USED, PROMOTE_PENDING, PURGE_AUDIT, PURGE_EVENTS, PURGE_RECHECK_COUNTS,
    PURGE_USAGE, RECORD_PLATFORM_CHECK, RECORD_TEST, RESEAL, RESTART_DELIVERY, SET_DELIVERY,
    STAGE_PENDING, STALL_DELIVERIES, STORE_KEY, SWITCH_EVENT, SWITCH_TO_PENDING, UPSERT_PROVIDER,
};

/// A database with every migration applied, in order, as `wrangler d1 migrations apply` does,
/// under D1's limits where they are tighter than SQLite's: at most 5 terms in a compound
/// SELECT (seen under workerd: a sixth is "too many terms") and 100 bound parameters.
pub(crate) fn migrated() -> Connection {
    let db = Connection::open_in_memory().expect("sqlite");
    let _ = db.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_COMPOUND_SELECT, 5);
    let _ = db.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_VARIABLE_NUMBER, 100);
    apply_migrations(&db, |_| true);
    db
}

/// Applies, in order, the migrations whose file name `which` accepts.
fn apply_migrations(db: &Connection, which: impl Fn(&str) -> bool) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !which(name) {
            continue;
        }
        db.execute_batch(&std::fs::read_to_string(&f).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
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
            sealed,
            1_764_583_205_000_i64
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

// Issue #21: a new key over a working one waits as the pending key.

/// A connected integration serving `sealed` as version 1 (as the migration leaves old rows).
fn connected(db: &Connection, sealed: &[u8]) {
    installed(db, sealed);
    db.execute(
        "UPDATE integrations SET status = 'connected', key_version = 1, last_version = 1, key_worked = 1",
        [],
    )
    .expect("connected");
}

fn stage(db: &Connection, version: i64, sealed: &[u8], read_last_version: i64) -> usize {
    db.execute(
        STAGE_PENDING,
        params![
            "acme",
            "openai",
            version,
            sealed,
            "{}",
            "k1",
            "\"mask\"",
            "user-1",
            1_764_496_800_000_i64,
            read_last_version,
            PENDING_EXPIRES
        ],
    )
    .expect("stage")
}

/// The expiry every staged key carries in these tests (Unix ms).
const PENDING_EXPIRES: i64 = 1_800_000_000_000;

fn serving(db: &Connection) -> (Vec<u8>, i64, String, Option<i64>) {
    db.query_row(
        "SELECT secret, key_version, status, pending_version FROM integrations",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .expect("row")
}

#[test]
fn the_migration_keeps_old_rows_serving_as_version_1() {
    let db = Connection::open_in_memory().expect("sqlite");
    apply_migrations(&db, |name| name < "0006");
    installed(&db, b"old-connected");
    db.execute(
        "INSERT INTO integrations (tenant, provider, status, installed_at, updated_at)
         VALUES ('beta', 'openai', 'disconnected', ?1, ?1)",
        [T],
    )
    .expect("disconnected");
    db.execute(
        "UPDATE integrations SET status = 'connected' WHERE tenant = 'acme'",
        [],
    )
    .expect("connected");
    apply_migrations(&db, |name| name >= "0006");
    let rows: Vec<(String, i64, i64, i64)> = db
        .prepare("SELECT tenant, key_version, last_version, key_worked FROM integrations ORDER BY tenant")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(
        rows,
        [("acme".to_owned(), 1, 1, 1), ("beta".to_owned(), 0, 0, 0)],
        "a stored key serves as version 1 and a connected one has worked; no key, no version"
    );
}

#[test]
fn two_saves_racing_over_a_working_key_leave_exactly_one_pending() {
    let db = migrated();
    connected(&db, b"works");
    // Both read last_version 1 and decide on version 2.
    assert_eq!(stage(&db, 2, b"first", 1), 1);
    assert_eq!(
        stage(&db, 2, b"second", 1),
        0,
        "the slower save misses and re-reads"
    );
    // Re-read: it now stages version 3 over the first, which its own result can no longer
    // promote.
    assert_eq!(stage(&db, 3, b"second", 2), 1);
    let promote = |version: i64, sealed: &[u8]| {
        db.execute(
            PROMOTE_PENDING,
            params!["acme", "openai", version, "{}", LATER, 1_i64, sealed],
        )
        .expect("promote")
    };
    assert_eq!(
        promote(2, b"first"),
        0,
        "a replaced pending key is never promoted"
    );
    assert_eq!(serving(&db).0, b"works", "the working key still serves");
    assert_eq!(promote(3, b"first"), 0, "only the very sealed value tested");
    assert_eq!(promote(3, b"second"), 1);
    assert_eq!(
        serving(&db),
        (b"second".to_vec(), 3, "connected".to_owned(), None)
    );
    let expiry: (Option<i64>, i64, Option<i64>) = db
        .query_row(
            "SELECT expires_at, expiry_notified, pending_expires_at FROM integrations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(
        expiry,
        (Some(PENDING_EXPIRES), 0, None),
        "the promoted key brings its own expiry, and its notices start again"
    );
}

#[test]
fn a_pending_key_is_staged_only_over_a_working_one() {
    let db = migrated();
    installed(&db, b"unverified");
    db.execute("UPDATE integrations SET last_version = 1", [])
        .expect("v");
    assert_eq!(
        stage(&db, 2, b"new", 1),
        0,
        "no key works: it is stored at once instead"
    );
}

#[test]
fn a_refused_or_discarded_pending_key_goes_and_the_working_key_stays() {
    let db = migrated();
    connected(&db, b"works");
    stage(&db, 2, b"wrong", 1);
    let drop = |v: i64| {
        db.execute(DROP_PENDING, params!["acme", "openai", v])
            .expect("drop")
    };
    assert_eq!(drop(3), 0, "not the pending version");
    assert_eq!(drop(2), 1);
    assert_eq!(
        serving(&db),
        (b"works".to_vec(), 1, "connected".to_owned(), None)
    );
    let left: Option<Vec<u8>> = db
        .query_row("SELECT pending_secret FROM integrations", [], |r| r.get(0))
        .expect("row");
    assert_eq!(left, None, "the refused ciphertext is not kept");
}

#[test]
fn a_switch_needs_an_inconclusive_test_or_one_that_never_finished() {
    let db = migrated();
    connected(&db, b"works");
    stage(&db, 2, b"maybe", 1);
    let switch = |v: i64, deadline_ms: i64| {
        db.execute(
            SWITCH_TO_PENDING,
            params!["acme", "openai", v, LATER, deadline_ms],
        )
        .expect("switch")
    };
    // Saved at ...800_000; a deadline before that means its test may still be running.
    assert_eq!(switch(2, 1_764_496_700_000), 0, "still testing");
    db.execute(
        PENDING_INCONCLUSIVE,
        params![
            "acme",
            "openai",
            2,
            "{\"verdict\":\"provider-unavailable\"}"
        ],
    )
    .expect("inconclusive");
    assert_eq!(switch(3, 1_764_496_700_000), 0, "not the pending version");
    let event = |id: &str, version: i64| {
        db.execute(
            SWITCH_EVENT,
            params![
                id,
                "acme",
                "openai",
                "connected",
                "unverified",
                "{}",
                LATER,
                "none",
                version
            ],
        )
        .expect("event")
    };
    assert_eq!(
        event("msg_before", 2),
        0,
        "no event for a switch that did not happen"
    );
    assert_eq!(switch(2, 1_764_496_700_000), 1);
    assert_eq!(event("msg_after", 2), 1);
    let (secret, version, status, pending) = serving(&db);
    assert_eq!(
        (secret, version, status, pending),
        (b"maybe".to_vec(), 2, "unverified".to_owned(), None)
    );
    // A test that never finished (saved before the deadline) may be switched to as well.
    let db = migrated();
    connected(&db, b"works");
    stage(&db, 2, b"stuck", 1);
    let switched = db
        .execute(
            SWITCH_TO_PENDING,
            params!["acme", "openai", 2, LATER, 1_764_496_900_000_i64],
        )
        .expect("switch");
    assert_eq!(switched, 1);
}

#[test]
fn a_key_saved_at_once_needs_the_row_as_it_was_read() {
    let db = migrated();
    installed(&db, b"old");
    let store = |read_version: i64, read_at: &str| {
        db.execute(
            STORE_KEY,
            params![
                "acme",
                "openai",
                b"new".as_slice(),
                "{}",
                "k1",
                "\"m\"",
                LATER,
                read_version + 1,
                read_version,
                read_at,
                Option::<i64>::None
            ],
        )
        .expect("store")
    };
    assert_eq!(store(0, LATER), 0, "a test recorded since moved updated_at");
    assert_eq!(store(1, T), 0, "another save came first");
    assert_eq!(store(0, T), 1);
    assert_eq!(
        serving(&db),
        (b"new".to_vec(), 1, "unverified".to_owned(), None)
    );
}

#[test]
fn a_reseal_keeps_the_pending_key_it_read_and_no_other() {
    let db = migrated();
    connected(&db, b"works-old-kid");
    db.execute("UPDATE integrations SET key_id = 'old'", [])
        .expect("kid");
    stage(&db, 2, b"pending-old-kid", 1);
    let reseal = |pending_version: Option<i64>| {
        db.execute(
            RESEAL,
            params![
                "acme",
                "openai",
                b"works-new".as_slice(),
                "{}",
                "new",
                T,
                "old",
                b"pending-new".as_slice(),
                "{}",
                "new",
                pending_version
            ],
        )
        .expect("reseal")
    };
    assert_eq!(
        reseal(None),
        0,
        "a pending key staged since the read is not overwritten"
    );
    assert_eq!(reseal(Some(2)), 1);
    let (pending, kid): (Vec<u8>, String) = db
        .query_row(
            "SELECT pending_secret, pending_key_id FROM integrations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!((pending, kid), (b"pending-new".to_vec(), "new".to_owned()));
}

#[test]
fn each_expiry_notice_is_sent_once_with_its_event_and_only_for_the_expiry_read() {
    let db = migrated();
    installed(&db, b"expiring");
    let day = 86_400_000_i64;
    let expires = 1_800_000_000_000_i64;
    db.execute("UPDATE integrations SET expires_at = ?1", [expires])
        .expect("expiry");
    // Due within 14 days: the sweep finds it, by the index on expires_at.
    let found: Vec<String> = db
        .prepare(EXPIRY_CANDIDATES)
        .expect("prepare")
        .query_map(
            params![expires - day, 10, expires - 14 * day, expires - 15 * day],
            |r| r.get(0),
        )
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(found.is_empty(), "not yet within the window");
    let found: Vec<String> = db
        .prepare(EXPIRY_CANDIDATES)
        .expect("prepare")
        .query_map(
            params![expires + day, 10, expires - 12 * day, expires - 13 * day],
            |r| r.get(0),
        )
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(found, ["acme"]);
    let plan: String = db
        .query_row(
            &format!("EXPLAIN QUERY PLAN {EXPIRY_CANDIDATES}"),
            params![expires, 10, expires, expires],
            |r| r.get(3),
        )
        .expect("plan");
    assert!(plan.contains("integrations_by_expiry"), "{plan}");
    let notice = |id: &str, read: i64, stage: i64, read_expiry: i64| {
        let marked = db
            .execute(
                MARK_NOTICE,
                params!["acme", "openai", read_expiry, read, stage, id],
            )
            .expect("mark");
        let stored = db
            .execute(
                NOTICE_EVENT,
                params![
                    id,
                    "acme",
                    "openai",
                    "unverified",
                    "unverified",
                    "{}",
                    T,
                    "none"
                ],
            )
            .expect("event");
        (marked, stored)
    };
    assert_eq!(
        notice("msg_a", 0, 1, expires),
        (1, 1),
        "the 14-day notice, with its event"
    );
    assert_eq!(
        notice("msg_b", 0, 1, expires),
        (0, 0),
        "a second run sends nothing"
    );
    assert_eq!(
        notice("msg_c", 1, 2, expires + 1),
        (0, 0),
        "an expiry changed since is not marked"
    );
    assert_eq!(
        notice("msg_d", 1, 3, expires),
        (1, 1),
        "late: straight to expired"
    );
    let events: i64 = db
        .query_row("SELECT COUNT(*) FROM status_events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(events, 2);
}

#[test]
fn an_entry_and_its_fixtures_are_written_together_and_the_spec_stays_readable() {
    let db = migrated();
    let upsert = |spec: &str, fixtures: Option<&str>, words: Option<&str>, at: &str| {
        db.execute(UPSERT_PROVIDER, params!["acme", spec, at, fixtures, words])
            .expect("upsert")
    };
    upsert(
        r#"{"name":"Acme"}"#,
        Some(r#"{"cases":[]}"#),
        Some(r#"{"fr":{"name":"Acmé"}}"#),
        T,
    );
    let row = |db: &Connection| -> (String, Option<String>, i64) {
        db.query_row(
            "SELECT spec, fixtures, active FROM integration_providers WHERE key = 'acme'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row")
    };
    let words = |db: &Connection| -> Option<String> {
        db.query_row(
            "SELECT translations FROM integration_providers WHERE key = 'acme'",
            [],
            |r| r.get(0),
        )
        .expect("row")
    };
    assert_eq!(
        row(&db),
        (
            r#"{"name":"Acme"}"#.into(),
            Some(r#"{"cases":[]}"#.into()),
            1
        )
    );
    assert_eq!(words(&db).as_deref(), Some(r#"{"fr":{"name":"Acmé"}}"#));
    // Retired, then saved again without a test plugin: re-activated, the old fixtures gone.
    db.execute(
        "UPDATE integration_providers SET active = 0 WHERE key = 'acme'",
        [],
    )
    .expect("retire");
    upsert(r#"{"name":"Acme 2"}"#, None, None, LATER);
    assert_eq!(row(&db), (r#"{"name":"Acme 2"}"#.into(), None, 1));
    assert_eq!(words(&db), None, "translations left out are gone too");
}

#[test]
fn failing_keys_page_in_the_order_they_failed_through_their_index() {
    let db = migrated();
    for key in ["openai", "stripe"] {
        db.execute(
            "INSERT INTO integration_providers (key, spec, created_at, updated_at) VALUES (?1, '{}', ?2, ?2)",
            params![key, T],
        )
        .expect("provider");
    }
    for (tenant, provider, since) in [
        ("b", "openai", Some("2026-11-02T00:00:00Z")),
        ("a", "stripe", Some("2026-11-01T00:00:00Z")),
        ("a", "openai", Some("2026-11-02T00:00:00Z")),
        ("c", "openai", None),
    ] {
        db.execute(
            "INSERT INTO integrations (tenant, provider, status, secret, installed_at, updated_at, failing_since)
             VALUES (?1, ?2, 'invalid', x'00', ?3, ?3, ?4)",
            params![tenant, provider, T, since],
        )
        .expect("insert");
    }
    let page = |after: (&str, &str, &str), limit: i64| -> Vec<String> {
        let mut stmt = db.prepare(FAILING).expect("prepare");
        stmt.query_map(params![after.0, after.1, after.2, limit], |r| {
            Ok(format!(
                "{}/{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    assert_eq!(
        page(("", "", ""), 10),
        ["a/stripe", "a/openai", "b/openai"],
        "a key that works is not listed"
    );
    assert_eq!(page(("", "", ""), 2), ["a/stripe", "a/openai"]);
    assert_eq!(
        page(("2026-11-02T00:00:00Z", "a", "openai"), 2),
        ["b/openai"],
        "the next page starts after the last row"
    );
    let plan: String = db
        .query_row(
            &format!("EXPLAIN QUERY PLAN {FAILING}"),
            params!["", "", "", 10],
            |r| r.get(3),
        )
        .expect("plan");
    assert!(plan.contains("integrations_failing"), "{plan}");
    assert!(
        !plan.contains("SCAN integrations") || plan.contains("USING INDEX"),
        "{plan}"
    );
}

#[test]
fn a_platform_key_test_is_recorded_against_the_key_tested_and_its_last_use_is_one_index_lookup() {
    let db = migrated();
    db.execute(
        "INSERT INTO integration_providers (key, spec, created_at, updated_at, platform_secret)
         VALUES ('openai', '{}', ?1, ?1, ?2)",
        params![T, b"sealed-new".as_slice()],
    )
    .expect("provider");
    // A test of a key replaced meanwhile records nothing.
    let stale = db
        .execute(
            RECORD_PLATFORM_CHECK,
            params!["openai", b"sealed-old".as_slice(), "invalid", T],
        )
        .expect("record");
    assert_eq!(stale, 0);
    let fresh = db
        .execute(
            RECORD_PLATFORM_CHECK,
            params!["openai", b"sealed-new".as_slice(), "connected", T],
        )
        .expect("record");
    assert_eq!(fresh, 1);
    // An inconclusive test keeps when it was last verified.
    db.execute(
        RECORD_PLATFORM_CHECK,
        params![
            "openai",
            b"sealed-new".as_slice(),
            "connected",
            Option::<&str>::None
        ],
    )
    .expect("record");
    let (status, verified): (String, String) = db
        .query_row(
            "SELECT platform_status, platform_verified_at FROM integration_providers WHERE key = 'openai'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!((status.as_str(), verified.as_str()), ("connected", T));

    for (day, tenant, source) in [
        ("2026-11-01", "a", "platform"),
        ("2026-11-20", "b", "platform"),
        ("2026-11-29", "c", "tenant"),
    ] {
        db.execute(
            "INSERT INTO usage_daily (day, tenant, provider, source, resolves) VALUES (?1, ?2, 'openai', ?3, 1)",
            params![day, tenant, source],
        )
        .expect("usage");
    }
    let day: Option<String> = db
        .query_row(PLATFORM_LAST_USED, ["openai"], |r| r.get(0))
        .expect("last used");
    assert_eq!(
        day.as_deref(),
        Some("2026-11-20"),
        "the platform key's own use only"
    );
    let plan: String = db
        .query_row(
            &format!("EXPLAIN QUERY PLAN {PLATFORM_LAST_USED}"),
            ["openai"],
            |r| r.get(3),
        )
        .expect("plan");
    assert!(plan.contains("usage_daily_by_provider"), "{plan}");
}

/// The plan of `sql` (its `detail` column, one line per step), with every parameter NULL: a
/// plan does not depend on the values. (`store_plan_tests.rs` plans every statement with it.)
pub(crate) fn plan(db: &Connection, sql: &str) -> String {
    let mut stmt = db
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("plan rows");
    rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
}

#[test]
fn retention_removes_aged_audit_rows_oldest_first_and_only_those() {
    let db = migrated();
    for (n, at) in [
        "2024-01-01T00:00:00.000Z",
        "2024-06-01T00:00:00.000Z",
        "2025-01-01T00:00:00.000Z",
        "2026-11-01T00:00:00.000Z",
        "2026-11-30T00:00:00.000Z",
    ]
    .iter()
    .enumerate()
    {
        db.execute(
            "INSERT INTO audit_log (at, actor, tenant, action, outcome) VALUES (?1, 'ada', 'acme', ?2, 'ok')",
            params![at, format!("a{n}")],
        )
        .expect("audit");
    }
    let cutoff = "2025-06-01T00:00:00.000Z";
    // A batch of two: the two oldest go; the next batch takes the third and stops at the kept.
    assert_eq!(
        db.execute(PURGE_AUDIT, params![cutoff, 2]).expect("purge"),
        2
    );
    assert_eq!(
        db.execute(PURGE_AUDIT, params![cutoff, 2]).expect("purge"),
        1
    );
    assert_eq!(
        db.execute(PURGE_AUDIT, params![cutoff, 2]).expect("purge"),
        0
    );
    let left: Vec<String> = db
        .prepare("SELECT action FROM audit_log ORDER BY id")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(left, ["a3", "a4"]);
    // Bounded by the batch: the rowid order's first `?2` rows, never the whole table.
    let plan = plan(&db, PURGE_AUDIT);
    assert!(
        plan.contains("LIST SUBQUERY") || plan.contains("USING INTEGER PRIMARY KEY"),
        "{plan}"
    );
}

#[test]
fn retention_keeps_each_integrations_newest_event_and_any_being_delivered() {
    let db = migrated();
    let event = |id: &str, tenant: &str, at: &str, delivery: &str| {
        db.execute(
            "INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery)
             VALUES (?1, ?2, 'openai', 'connected', 'invalid', '{}', ?3, ?4)",
            params![id, tenant, at, delivery],
        )
        .expect("event");
    };
    event("old-1", "acme", "2024-01-01T00:00:00.000Z", "delivered");
    event("old-pending", "acme", "2024-02-01T00:00:00.000Z", "pending");
    event("old-dead", "acme", "2024-03-01T00:00:00.000Z", "dead");
    event("recent", "acme", "2026-11-29T00:00:00.000Z", "delivered");
    // Another integration whose only event is old: it explains its status, so it stays.
    event("only", "globex", "2024-01-01T00:00:00.000Z", "delivered");
    let removed = db
        .execute(PURGE_EVENTS, params!["2025-06-01T00:00:00.000Z", 500])
        .expect("purge");
    assert_eq!(removed, 2);
    let left: Vec<String> = db
        .prepare("SELECT id FROM status_events ORDER BY id")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(left, ["old-pending", "only", "recent"]);
    let plan = plan(&db, PURGE_EVENTS);
    assert!(plan.contains("status_events_by_at"), "{plan}");
    assert!(plan.contains("status_events_by_integration"), "{plan}");
}

#[test]
fn retention_removes_usage_and_recheck_counts_by_day_through_their_keys() {
    let db = migrated();
    for day in ["2025-01-01", "2025-05-31", "2025-06-01", "2026-11-30"] {
        db.execute(
            "INSERT INTO usage_daily (day, tenant, provider, source, resolves) VALUES (?1, 'acme', 'openai', 'tenant', 1)",
            [day],
        )
        .expect("usage");
        // An unchanged scheduled re-check, twice the same day: one row, counted twice.
        for _ in 0..2 {
            db.execute(COUNT_RECHECK, params![day, "openai", "connected"])
                .expect("count");
        }
    }
    let checks: i64 = db
        .query_row(
            "SELECT checks FROM recheck_daily WHERE day = '2026-11-30'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(checks, 2);
    assert_eq!(
        db.execute(PURGE_USAGE, params!["2025-06-01", 500])
            .expect("purge"),
        2
    );
    assert_eq!(
        db.execute(PURGE_RECHECK_COUNTS, params!["2025-06-01", 500])
            .expect("purge"),
        2
    );
    let days: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM usage_daily WHERE day >= '2025-06-01'",
            [],
            |r| r.get(0),
        )
        .expect("left");
    assert_eq!(days, 2);
    for sql in [PURGE_USAGE, PURGE_RECHECK_COUNTS] {
        let plan = plan(&db, sql);
        assert!(plan.contains("USING") && plan.contains("INDEX"), "{plan}");
    }
}

/// Installs by provider and status.
type Counts = Vec<(String, String, i64)>;

/// `fleet_counts` as the triggers keep it, and the count it stands for.
fn fleet(db: &Connection) -> (Counts, Counts) {
    let rows = |sql: &str| -> Counts {
        db.prepare(sql)
            .expect("q")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect()
    };
    (
        rows(&format!("{FLEET_COUNTS} ORDER BY provider, status")),
        rows("SELECT provider, status, COUNT(*) FROM integrations GROUP BY provider, status ORDER BY provider, status"),
    )
}

#[test]
fn the_fleet_counts_follow_every_install_change_and_uninstall() {
    let db = migrated();
    for key in ["openai", "stripe", "twilio"] {
        db.execute(
            "INSERT INTO integration_providers (key, spec, created_at, updated_at) VALUES (?1, '{}', ?2, ?2)",
            params![key, T],
        )
        .expect("provider");
    }
    // A fixed pseudo-random walk of installs, status changes, key saves and uninstalls.
    let mut seed: u64 = 20_261_130;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let providers = ["openai", "stripe", "twilio"];
    let statuses = ["connected", "invalid", "unverified"];
    for _ in 0..600 {
        let tenant = format!("t{}", next(40));
        let provider = providers[next(3) as usize];
        match next(4) {
            0 => {
                // Install with a key, or without (ON CONFLICT DO NOTHING, as the Worker does).
                let keyed = next(2) == 0;
                db.execute(
                    "INSERT INTO integrations (tenant, provider, status, secret, installed_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (tenant, provider) DO NOTHING",
                    params![
                        tenant,
                        provider,
                        if keyed { "unverified" } else { "disconnected" },
                        if keyed { Some(b"sealed".as_slice()) } else { None },
                        T
                    ],
                )
                .expect("install");
            }
            1 | 2 => {
                let status = statuses[next(3) as usize];
                db.execute(
                    "UPDATE integrations SET status = ?3, updated_at = ?4 WHERE tenant = ?1 AND provider = ?2 AND secret IS NOT NULL",
                    params![tenant, provider, status, LATER],
                )
                .expect("test");
            }
            _ => {
                db.execute(
                    "DELETE FROM integrations WHERE tenant = ?1 AND provider = ?2",
                    params![tenant, provider],
                )
                .expect("uninstall");
            }
        }
        let (kept, counted) = fleet(&db);
        assert_eq!(kept, counted);
    }
    let plan = plan(&db, FLEET_COUNTS);
    assert!(!plan.contains("integrations"), "{plan}");
}

/// An install into a database listed after the entry was created (no anchor there): the
/// install's batch anchors the key first, so the row's foreign key holds, and the same
/// anchor in the home database leaves the entry as it is.
#[test]
fn an_install_anchors_its_entry_in_a_database_added_after_it() {
    let install = |db: &Connection| {
        db.execute(
            &insert_integration_sql(),
            params![
                "acme",
                "openai",
                "disconnected",
                None::<Vec<u8>>,
                None::<String>,
                None::<String>,
                None::<String>,
                None::<String>,
                T,
                T,
                None::<f64>
            ],
        )
    };
    let added = migrated();
    added
        .execute_batch("PRAGMA foreign_keys = ON")
        .expect("D1 enforces foreign keys");
    assert!(
        install(&added).is_err(),
        "without the anchor the foreign key refuses the row"
    );
    added
        .execute(ANCHOR_PROVIDER, params!["openai", T])
        .expect("anchor");
    assert_eq!(install(&added).expect("install"), 1, "installed");

    let home = migrated();
    home.execute(
        "INSERT INTO integration_providers (key, spec, active, created_at, updated_at) VALUES ('openai', '{\"name\":\"OpenAI\"}', 1, ?1, ?1)",
        [T],
    )
    .expect("entry");
    home.execute(ANCHOR_PROVIDER, params!["openai", LATER])
        .expect("anchor at home");
    let (spec, active, updated): (String, i64, String) = home
        .query_row(
            "SELECT spec, active, updated_at FROM integration_providers WHERE key = 'openai'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("entry");
    assert_eq!(
        (spec.as_str(), active, updated.as_str()),
        ("{\"name\":\"OpenAI\"}", 1, T),
        "the entry at home is untouched"
    );
}
