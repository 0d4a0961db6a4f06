//! The move's statements run natively against the migrated schema (SQLite, the engine under
//! D1): every table that holds rows about a tenant is accounted for, and a tenant copied
//! chunk by chunk arrives byte for byte, with its usage added once.

use rusqlite::{params, Connection};

use super::*;
use crate::store::sql_tests::migrated;

fn columns(db: &Connection, table: &str) -> Vec<String> {
    db.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .expect("pragma")
        .query_map([], |r| r.get(0))
        .expect("columns")
        .collect::<Result<_, _>>()
        .expect("read")
}

#[test]
fn every_table_with_rows_about_a_tenant_moves_with_it_or_says_why_not() {
    let db = migrated();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    let mut with_tenant: Vec<&str> = tables
        .iter()
        .filter(|t| columns(&db, t).iter().any(|c| c == "tenant"))
        .map(String::as_str)
        .collect();
    with_tenant.sort_unstable();
    let mut accounted: Vec<&str> = MOVED
        .iter()
        .chain(std::iter::once(&USAGE))
        .map(|t| t.name)
        .chain(NOT_MOVED.iter().map(|(t, _)| *t))
        .collect();
    accounted.sort_unstable();
    assert_eq!(
        with_tenant, accounted,
        "a new table with a tenant column must move (MOVED) or say why not (NOT_MOVED)"
    );
    for t in MOVED.iter().chain(std::iter::once(&USAGE)) {
        assert_eq!(
            columns(&db, t.name),
            t.columns,
            "{}: every column, in the schema's order (a migration added one?)",
            t.name
        );
        for b in t.blobs {
            assert!(t.columns.contains(b));
        }
        if t.references_catalog {
            assert_eq!(t.columns[1], "provider", "{}", t.name);
        }
    }
}

const T: &str = "2026-11-30T10:00:00.000Z";

/// A source database holding `acme` in every table (and `globex` beside it).
fn source() -> Connection {
    let db = migrated();
    db.execute_batch(
        "INSERT INTO integration_providers (key, spec, active, created_at, updated_at) VALUES
           ('openai', '{\"name\":\"OpenAI\"}', 1, 't', 't'), ('stripe', '{\"name\":\"Stripe\"}', 1, 't', 't');",
    )
    .expect("catalog");
    for tenant in ["acme", "globex"] {
        db.execute(
            "INSERT INTO integrations (tenant, provider, status, secret, fields, mask, last_test, installed_at, updated_at, key_version, last_version, expires_at, next_check_at)
             VALUES (?1, 'openai', 'connected', X'00ff10a5', '{\"org\":\"o-1\"}', 'sk-…abcd', '{\"ok\":true}', ?2, ?2, 3, 3, 1764500000000, 0)",
            params![tenant, T],
        )
        .expect("integration");
        db.execute(
            "INSERT INTO integrations (tenant, provider, status, installed_at, updated_at, pending_secret, pending_version)
             VALUES (?1, 'stripe', 'disconnected', ?2, ?2, X'', 2)",
            params![tenant, T],
        )
        .expect("second integration");
        db.execute(
            "INSERT INTO tenant_policies (tenant, provider, platform_fallback, updated_at, updated_by, platform_daily_cap) VALUES (?1, 'openai', 'never', ?2, 'u', 5)",
            params![tenant, T],
        )
        .expect("policy");
        db.execute(
            "INSERT INTO tenant_caps (tenant, platform_daily_cap, updated_at, updated_by) VALUES (?1, 100, ?2, 'u')",
            params![tenant, T],
        )
        .expect("cap");
        for i in 0..7 {
            db.execute(
                "INSERT INTO status_events (id, tenant, provider, from_status, to_status, reason, at, delivery, attempts, series)
                 VALUES (?1, ?2, 'openai', 'unverified', 'connected', '{}', ?3, 'pending', 0, 1)",
                params![format!("msg_{tenant}_{i}"), tenant, T],
            )
            .expect("event");
            db.execute(
                "INSERT INTO audit_log (id, at, actor, tenant, provider, action, outcome) VALUES (?1, ?2, 'u', ?3, 'openai', 'save', 'ok')",
                params![1_000 + i * 64 + i64::from(tenant == "globex"), T, tenant],
            )
            .expect("audit");
            db.execute(
                "INSERT INTO usage_daily (day, tenant, provider, source, resolves, reports, rejections) VALUES (?1, ?2, 'openai', 'tenant', ?3, 1, 0)",
                params![format!("2026-11-{:02}", i + 1), tenant, 10 + i],
            )
            .expect("usage");
        }
    }
    // A tenant with nothing but usage and audit rows left (everything uninstalled).
    db.execute(
        "INSERT INTO usage_daily (day, tenant, provider, source, resolves, reports, rejections) VALUES ('2026-11-01', 'initech', 'stripe', 'platform', 4, 0, 0)",
        [],
    )
    .expect("usage only");
    db
}

/// Every row of `table` about `tenant`, every column as text (blobs as hex, NULL as "NULL").
fn dump(db: &Connection, table: &str, tenant: &str) -> Vec<Vec<String>> {
    let cols = columns(db, table);
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| {
            format!("CASE WHEN {c} IS NULL THEN 'NULL' ELSE typeof({c}) || ':' || quote({c}) END")
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE tenant = ?1 ORDER BY 1, 2, 3",
        exprs.join(", ")
    );
    let mut stmt = db.prepare(&sql).expect("dump");
    stmt.query_map([tenant], |r| {
        (0..cols.len()).map(|i| r.get::<_, String>(i)).collect()
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("read")
}

/// Every moved table holds in `to` what it holds in `from` about `tenant`, row for row.
fn assert_copied(from: &Connection, to: &Connection, tenant: &str, why: &str) {
    for t in MOVED {
        assert_eq!(
            dump(to, t.name, tenant),
            dump(from, t.name, tenant),
            "{}: {why}",
            t.name
        );
    }
}

/// The copy as `copy_tenant` runs it, natively: the target's rows first, then each table in
/// chunks of `chunk` rows (anchoring what they reference), then usage with the record.
fn copy(from: &Connection, to: &Connection, tenant: &str, chunk: u32) {
    copy_until(from, to, tenant, chunk, true)
}

/// `tenant`'s rows of `t` in `from`, in chunks of `chunk` rows, as `read_all` reads them.
fn read(from: &Connection, t: &Moved, tenant: &str, chunk: u32) -> Vec<String> {
    let mut after = 0i64;
    let mut chunks = Vec::new();
    loop {
        let (n, last, rows): (i64, Option<i64>, String) = from
            .query_row(&read_chunk_sql(t), params![tenant, after, chunk], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("read chunk");
        if n == 0 {
            break;
        }
        chunks.push(rows);
        match last {
            Some(l) if n == i64::from(chunk) => after = l,
            _ => break,
        }
    }
    chunks
}

/// The fingerprint of `tenant`'s rows in `db`, read in chunks of `chunk`, as `fingerprint`
/// (the prune) computes it.
fn fingerprint_in(db: &Connection, tenant: &str, chunk: u32) -> String {
    let mut f = Fingerprint::new();
    for t in MOVED.iter().filter(|t| t.vouched) {
        for rows in read(db, t, tenant, chunk) {
            f.rows(t, &rows).expect("rows");
        }
    }
    f.finish()
}

/// The record of `tenant`'s copy from DB_1 in `to`: `None` without one, else its digest.
fn record_in(to: &Connection, tenant: &str) -> Option<Option<String>> {
    use rusqlite::OptionalExtension as _;
    to.query_row(
        MOVE_RECORDED,
        params![tenant, "DB_1", "DB,DB_1,DB_2"],
        |r| r.get(0),
    )
    .optional()
    .expect("record")
}

/// As `copy`; without `finish`, it stops where a failure would stop it before the last batch
/// (usage and the record).
fn copy_until(from: &Connection, to: &Connection, tenant: &str, chunk: u32, finish: bool) {
    for t in MOVED {
        to.execute(&delete_tenant_sql(t.name), [tenant])
            .expect("delete");
    }
    let mut vouched = Fingerprint::new();
    for t in MOVED {
        for rows in read(from, t, tenant, chunk) {
            vouched.rows(t, &rows).expect("rows");
            if t.references_catalog {
                to.execute(ANCHOR_CHUNK, params![rows, T]).expect("anchor");
            }
            to.execute(&write_chunk_sql(t), [&rows])
                .expect("write chunk");
        }
    }
    if !finish {
        return;
    }
    for rows in read(from, &USAGE, tenant, chunk) {
        to.execute(
            &merge_usage_sql(),
            params![rows, tenant, "DB_1", "DB,DB_1,DB_2"],
        )
        .expect("merge usage");
    }
    to.execute(
        RECORD_MOVE,
        params![tenant, "DB_1", "DB,DB_1,DB_2", 1, vouched.finish()],
    )
    .expect("record");
}

#[test]
fn a_tenant_copied_in_chunks_arrives_byte_for_byte_and_its_usage_is_added_once() {
    let from = source();
    let to = migrated();
    to.execute_batch("PRAGMA foreign_keys = ON").expect("as D1");
    // Usage the target counted since the move began (`crate::usage` writes it there).
    to.execute(
        "INSERT INTO usage_daily (day, tenant, provider, source, resolves, reports, rejections) VALUES ('2026-11-01', 'acme', 'openai', 'tenant', 5, 0, 2)",
        [],
    )
    .expect("new usage");
    copy(&from, &to, "acme", 3);
    assert_copied(
        &from,
        &to,
        "acme",
        "every row and column as it was (sealed bytes, empty blobs and NULLs too)",
    );
    for t in MOVED {
        assert!(
            dump(&to, t.name, "globex").is_empty(),
            "{}: only acme",
            t.name
        );
    }
    let usage = |db: &Connection| -> Vec<(String, i64, i64, i64)> {
        db.prepare("SELECT day, resolves, reports, rejections FROM usage_daily WHERE tenant = 'acme' ORDER BY day")
            .expect("usage")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read")
    };
    let mut expected = usage(&from);
    expected[0].1 += 5;
    expected[0].3 += 2;
    assert_eq!(usage(&to), expected, "the old counts added to the new ones");
    // The anchors the integrations and policies needed, inactive.
    let anchors: Vec<(String, i64)> = to
        .prepare("SELECT key, active FROM integration_providers ORDER BY key")
        .expect("anchors")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(anchors, [("openai".into(), 0), ("stripe".into(), 0)]);
    // The fleet counts follow the rows (triggers).
    let fleet: i64 = to
        .query_row("SELECT SUM(n) FROM fleet_counts", [], |r| r.get(0))
        .expect("fleet");
    assert_eq!(fleet, 2);

    // Copied again (a call that stopped after its rows, before its record, is redone): the
    // rows are replaced, not doubled, and the usage is not added a second time.
    copy(&from, &to, "acme", 200);
    for t in MOVED {
        assert_eq!(
            dump(&to, t.name, "acme"),
            dump(&from, t.name, "acme"),
            "{}",
            t.name
        );
    }
    assert_eq!(usage(&to), expected, "usage added once");
    let fleet: i64 = to
        .query_row("SELECT SUM(n) FROM fleet_counts", [], |r| r.get(0))
        .expect("fleet");
    assert_eq!(fleet, 2);
    assert_eq!(
        record_in(&to, "acme"),
        Some(Some(fingerprint_in(&from, "acme", 200))),
        "the record holds what the copy saw in its source"
    );
}

#[test]
fn the_walk_finds_every_tenant_a_database_holds_rows_about_page_by_page() {
    let db = source();
    let mut found = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<String> = db
            .prepare(&tenants_after_sql())
            .expect("walk")
            .query_map(params![after, 2], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read");
        found.extend(page.iter().cloned());
        match page.last() {
            Some(last) if page.len() == 2 => after = last.clone(),
            _ => break,
        }
    }
    assert_eq!(found, ["acme", "globex", "initech"]);
}

#[test]
fn counts_compare_a_copy_with_its_source() {
    let from = source();
    let to = migrated();
    copy(&from, &to, "acme", 4);
    let counts = |db: &Connection| -> Vec<i64> {
        db.query_row(&count_tenant_sql(), ["acme"], |r| {
            (0..MOVED.len()).map(|i| r.get(i)).collect()
        })
        .expect("counts")
    };
    assert_eq!(counts(&to), counts(&from));
    assert_eq!(counts(&from), [2, 1, 1, 7, 7]);
    to.execute("DELETE FROM audit_log WHERE id = 1000", [])
        .expect("lose one");
    assert_ne!(counts(&to), counts(&from), "a row lost in the copy shows");
}

#[test]
fn a_copy_that_stopped_before_its_record_is_redone_whole_and_adds_usage_once() {
    let from = source();
    let to = migrated();
    copy_until(&from, &to, "acme", 3, false);
    assert_eq!(
        record_in(&to, "acme"),
        None,
        "nothing recorded: the prune would keep the source's rows"
    );
    copy(&from, &to, "acme", 3);
    assert_copied(&from, &to, "acme", "redone whole");
    assert_eq!(
        dump(&to, "usage_daily", "acme"),
        dump(&from, "usage_daily", "acme"),
        "usage once"
    );
    assert!(record_in(&to, "acme").is_some());
}

#[test]
fn the_fingerprint_a_copy_records_changes_with_the_tenants_state_and_nothing_else() {
    let db = source();
    let acme = fingerprint_in(&db, "acme", 200);
    let globex = fingerprint_in(&db, "globex", 200);
    assert_eq!(acme.len(), 64, "a SHA-256 in hex");
    assert_ne!(acme, globex, "each tenant's own rows");
    assert_eq!(
        fingerprint_in(&db, "acme", 2),
        acme,
        "row by row: the chunk size does not matter"
    );
    // The cron parks the rows a database keeps but does not serve, and holds a moving
    // tenant's: not a write the copy vouches for.
    db.execute(
        "UPDATE integrations SET next_check_at = 1999999999999 WHERE tenant = 'acme'",
        [],
    )
    .expect("park");
    assert_eq!(
        fingerprint_in(&db, "acme", 200),
        acme,
        "parking is not a change"
    );
    // Its current state changing is: a key saved or removed, a policy or a cap changed.
    for (what, sql) in [
        ("a key saved", "UPDATE integrations SET secret = X'01', mask = 'sk-…late' WHERE tenant = 'acme' AND provider = 'openai'"),
        ("a key removed", "DELETE FROM integrations WHERE tenant = 'acme' AND provider = 'stripe'"),
        ("a key added", "INSERT INTO integrations (tenant, provider, status, installed_at, updated_at) VALUES ('acme', 'stripe-2', 'disconnected', 'x', 'x')"),
        ("a policy", "UPDATE tenant_policies SET platform_fallback = 'inherit' WHERE tenant = 'acme'"),
        ("a cap", "UPDATE tenant_caps SET platform_daily_cap = 101 WHERE tenant = 'acme'"),
    ] {
        let db = source();
        db.execute_batch("PRAGMA foreign_keys = OFF").expect("pragma");
        db.execute(sql, []).expect(what);
        assert_ne!(fingerprint_in(&db, "acme", 200), acme, "{what}");
        assert_eq!(fingerprint_in(&db, "globex", 200), globex, "{what}: not globex's");
    }
    // History is not: retention trims it in every database, the stall sweep marks old
    // deliveries, and neither is a write about the tenant that a prune would lose.
    for (what, sql) in [
        (
            "retention trims audit rows",
            "DELETE FROM audit_log WHERE tenant = 'acme' AND id = 1000",
        ),
        (
            "retention trims usage",
            "DELETE FROM usage_daily WHERE tenant = 'acme' AND day = '2026-11-01'",
        ),
        (
            "the stall sweep",
            "UPDATE status_events SET delivery = 'dead' WHERE tenant = 'acme'",
        ),
    ] {
        let db = source();
        db.execute(sql, []).expect(what);
        assert_eq!(fingerprint_in(&db, "acme", 200), acme, "{what}");
    }
}
