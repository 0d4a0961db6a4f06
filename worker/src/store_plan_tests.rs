//! Every statement the Worker runs, planned by SQLite against the migrated schema (`EXPLAIN
//! QUERY PLAN`): none reads a whole table that grows with tenants or with time (issue #24).
//! A second test reads the Worker's source and fails when a `.prepare(` names a statement that
//! is not listed here, so a new query cannot skip its plan check.

use byok_core::api::AuditBy;
use byok_core::console::{AuditSearch, SqlValue};
use byok_core::ids::{ProviderKey, TenantId};

use super::sql_tests::{migrated, plan};
use super::*;
use crate::connect::{INSERT_LINK, LINK_SEEN, PURGE_LINKS, USE_LINK};
use crate::console::RESTORE_PROVIDER;

/// Tables whose rows grow with the number of tenants or with time. The catalog
/// (`integration_providers`), uploaded plugins and `fleet_counts` (one row per provider and
/// status) do not.
const GROWING: &[&str] = &[
    "integrations",
    "audit_log",
    "status_events",
    "usage_daily",
    "recheck_daily",
    "tenant_policies",
    "tenant_caps",
    "connect_links",
];

/// Statements that may scan a growing table, with why that read is bounded or needed. Those
/// whose reason starts with "walk:" must walk in their `ORDER BY`'s order to a `LIMIT`.
/// Anything else that scans a growing table fails.
const ALLOWED_SCANS: &[(&str, &str)] = &[
    (
        "INTEGRATION_KEY_IDS",
        "the keyring report counts every sealed value by key id, which reads each row once by \
         its nature; an admin asks for it during a rotation, never on a tenant's path",
    ),
    (
        "PURGE_AUDIT",
        "walk: the oldest rows by id, stopping after ?2 (retention's batch)",
    ),
    (
        "ANCHOR_CHUNK",
        "the scans of integrations and tenant_policies in its plan are SQLite's foreign-key \
         check of a row inserted into the catalog (the parent), which runs only while deferred \
         violations are outstanding, never with D1's immediate constraints; what the statement \
         reads is a JSON chunk of at most 200 rows (a move's copy, by a platform admin)",
    ),
    (
        "AuditSearch::query() without filters",
        "walk: the newest page by id, then stops",
    ),
];

macro_rules! named {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), $name.to_string())),*]
    };
}

macro_rules! built {
    ($($f:ident),* $(,)?) => {
        vec![$((concat!(stringify!($f), "()"), $f())),*]
    };
}

/// Every statement, by the name the Worker's source gives it.
fn statements() -> Vec<(&'static str, String)> {
    let mut all = named![
        POLICY,
        TENANT_LIMITS,
        DELETE_POLICY,
        UPSERT_POLICY,
        TENANT_CAP,
        DELETE_TENANT_CAP,
        UPSERT_TENANT_CAP,
        CLAIM_RETEST,
        ADD_USAGE,
        MARK_USED,
        USAGE_SINCE,
        FLEET_COUNTS,
        PROVIDER_KEYS,
        FAILING,
        UPSERT_PROVIDER,
        ANCHOR_PROVIDER,
        PROVIDER_FIXTURES,
        PLUGIN_EXISTS,
        RETIRE_PROVIDER,
        SET_LOGO,
        SET_PLATFORM_KEY,
        RECORD_PLATFORM_CHECK,
        PLATFORM_KEYS,
        PLATFORM_LAST_USED,
        STORE_KEY,
        STAGE_PENDING,
        PROMOTE_PENDING,
        DROP_PENDING,
        PENDING_INCONCLUSIVE,
        SWITCH_TO_PENDING,
        SET_EXPIRY,
        EXPIRY_CANDIDATES,
        MARK_NOTICE,
        NOTICE_EVENT,
        GUARDED_AUDIT,
        SWITCH_EVENT,
        RECORD_TEST,
        COUNT_RECHECK,
        RECORD_NOT_CHECKED,
        RESCHEDULE,
        INSERT_EVENT,
        SET_DELIVERY,
        DELIVERY_STATE,
        STALL_DELIVERIES,
        RESTART_DELIVERY,
        EVENTS_FOR,
        INSERT_AUDIT,
        DELETE_INTEGRATION,
        INSERT_PLUGIN,
        INTEGRATION_KEY_IDS,
        PLATFORM_SECRETS,
        RESEAL_PLATFORM_KEY,
        ROWS_TO_RESEAL,
        RESEAL,
        PURGE_AUDIT,
        PURGE_EVENTS,
        PURGE_USAGE,
        PURGE_RECHECK_COUNTS,
        INSERT_LINK,
        USE_LINK,
        LINK_SEEN,
        PURGE_LINKS,
        RESTORE_PROVIDER,
    ];
    all.extend(built![
        provider_row_sql,
        active_providers_sql,
        all_providers_sql,
        integration_row_sql,
        tenant_integrations_sql,
        insert_integration_sql,
        recheck_due_sql,
        event_by_id_sql,
        events_by_delivery_sql,
    ]);
    for by in [AuditBy::All, AuditBy::People, AuditBy::Automated] {
        all.push(("audit_for_sql()", audit_for_sql(by)));
    }
    {
        use crate::moves::*;
        all.extend(named![ANCHOR_CHUNK, MOVE_RECORDED, RECORD_MOVE]);
        all.extend(built![merge_usage_sql, count_tenant_sql, tenants_after_sql]);
        for t in MOVED.iter().chain(std::iter::once(&USAGE)) {
            all.push(("read_chunk_sql()", read_chunk_sql(t)));
            all.push(("write_chunk_sql()", write_chunk_sql(t)));
            all.push(("delete_tenant_sql()", delete_tenant_sql(t.name)));
        }
    }
    let mut searches = audit_searches().into_iter();
    if let Some(unfiltered) = searches.next() {
        all.push(("AuditSearch::query() without filters", unfiltered));
    }
    all.extend(searches.map(|sql| ("AuditSearch::query()", sql)));
    all
}

/// The console's audit search with every combination of its seven filters.
fn audit_searches() -> Vec<String> {
    (0u32..128)
        .map(|set| {
            let on = |bit: u32| set & (1 << bit) != 0;
            let search = AuditSearch {
                tenant: on(0).then(|| TenantId::parse("acme").expect("tenant")),
                provider: on(1).then(|| ProviderKey::parse("openai").expect("provider")),
                action: on(2).then(|| "save".to_owned()),
                actor: on(3).then(|| "user-1".to_owned()),
                since: on(4).then(|| "2026-11-01T00:00:00Z".to_owned()),
                until: on(5).then(|| "2026-11-30T00:00:00Z".to_owned()),
                before: on(6).then_some(1_000),
                limit: 100,
                csv: false,
            };
            let (sql, values) = search.query();
            let numbered = (1..=values.len()).all(|n| sql.contains(&format!("?{n}")));
            assert!(
                numbered && matches!(values.last(), Some(SqlValue::Int(100))),
                "{sql}"
            );
            sql
        })
        .collect()
}

/// The plan's lines that read a growing table whole (`SCAN t`, with or without an index):
/// a search (`SEARCH t USING ...`) reads only the rows its key matches.
fn scans_of_growing_tables(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("SCAN")
                && words.next().is_some_and(|table| GROWING.contains(&table))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_statement_reads_a_whole_table_that_grows_with_tenants_or_time() {
    let db = migrated();
    let mut failures = Vec::new();
    let mut allowed_used = std::collections::BTreeSet::new();
    for (name, sql) in statements() {
        let plan = plan(&db, &sql);
        let scans = scans_of_growing_tables(&plan);
        if scans.is_empty() {
            continue;
        }
        // A walk scans only in the order of its ORDER BY, to its LIMIT.
        let allowed = ALLOWED_SCANS.iter().any(|(n, why)| {
            *n == name
                && (!why.starts_with("walk:")
                    || (sql.contains("LIMIT") && !plan.contains("USE TEMP B-TREE FOR ORDER BY")))
        });
        if allowed {
            allowed_used.insert(name);
        } else {
            failures.push(format!(
                "{name}:\n  {sql}\n  plan:\n    {}",
                plan.replace('\n', "\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "statements that read a growing table whole:\n{}",
        failures.join("\n")
    );
    // Every allowance is still needed (a statement that no longer walks loses it).
    let unused: Vec<_> = ALLOWED_SCANS
        .iter()
        .filter(|(n, _)| !allowed_used.contains(n))
        .collect();
    assert!(
        unused.is_empty(),
        "allowances no statement needs: {unused:?}"
    );
}

#[test]
fn the_cron_reads_only_due_rows_and_the_audit_search_uses_an_index_for_each_filter() {
    let db = migrated();
    let due = plan(&db, &recheck_due_sql());
    assert!(
        due.contains(
            "SEARCH integrations USING INDEX integrations_by_next_check (next_check_at<?)"
        ),
        "{due}"
    );
    assert!(!due.contains("TEMP B-TREE"), "already in order: {due}");
    let searches = audit_searches();
    for (set, index) in [
        (1 << 2, "audit_log_by_action"),
        (1 << 3, "audit_log_by_actor"),
        (1 << 0, "audit_log_by_tenant"),
    ] {
        let p = plan(&db, &searches[set]);
        assert!(p.contains(index), "{}: {p}", searches[set]);
    }
    // A time bound: one read of the time index, then a walk of ids from there.
    let since = plan(&db, &searches[1 << 4]);
    assert!(
        since.contains("SEARCH audit_log USING INTEGER PRIMARY KEY")
            && since.contains("audit_log_by_at"),
        "{since}"
    );
}

/// The names the Worker's source passes to `.prepare(`.
fn prepared_in_source() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src").flatten() {
        let path = entry.path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !file.ends_with(".rs") || file.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for (at, _) in text.match_indices(".prepare(") {
            let rest = &text[at + ".prepare(".len()..];
            let arg: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '&' | '"' | '('))
                .collect();
            // A function call is named `f()`, whatever its arguments.
            let arg = match arg.split_once('(') {
                Some((f, _)) => format!("{f}()"),
                None => arg,
            };
            found.push((file.clone(), arg));
        }
    }
    found
}

#[test]
fn every_statement_the_worker_prepares_is_listed_for_its_plan_check() {
    let listed: Vec<&str> = statements().iter().map(|(n, _)| *n).collect();
    let prepared = prepared_in_source();
    assert!(
        prepared.len() > 60,
        "the source scan finds the statements: {prepared:?}"
    );
    let mut unlisted = Vec::new();
    for (file, arg) in prepared {
        let name = arg
            .trim_start_matches('&')
            .rsplit("::")
            .next()
            .unwrap_or_default()
            .to_owned();
        let known = match name.as_str() {
            // The console's search: every combination is listed as AuditSearch::query().
            "sql" if file == "console.rs" => true,
            // `store::purge` runs one of the PURGE_* statements, each listed.
            "statement" if file == "store.rs" => true,
            n => listed.contains(&n),
        };
        if !known {
            unlisted.push(format!("{file}: .prepare({arg}"));
        }
    }
    assert!(
        unlisted.is_empty(),
        "statements without a plan check (name them and list them in store_plan_tests.rs): {unlisted:?}"
    );
}

/// Time bounds become id bounds: the search still finds exactly the rows in the window,
/// newest first, whatever the filters, on a log appended in time order.
#[test]
fn the_audit_search_with_time_bounds_finds_exactly_the_rows_in_the_window() {
    let db = migrated();
    let day = |d: u32| format!("2026-11-{d:02}T12:00:00.000Z");
    for d in 1..=28u32 {
        for (tenant, action) in [("acme", "save"), ("globex", "test"), ("acme", "test")] {
            db.execute(
                "INSERT INTO audit_log (at, actor, tenant, provider, action, outcome)
                 VALUES (?1, 'user-1', ?2, 'openai', ?3, 'ok')",
                rusqlite::params![day(d), tenant, action],
            )
            .expect("audit row");
        }
    }
    let run = |search: &AuditSearch| -> Vec<(i64, String)> {
        let (sql, values) = search.query();
        let values: Vec<rusqlite::types::Value> = values
            .into_iter()
            .map(|v| match v {
                SqlValue::Text(t) => t.into(),
                SqlValue::Int(n) => n.into(),
            })
            .collect();
        let mut stmt = db.prepare(&sql).expect("prepare");
        stmt.query_map(rusqlite::params_from_iter(values), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
    };
    let all = run(&AuditSearch {
        limit: 500,
        ..AuditSearch::default()
    });
    for (since, until, tenant) in [
        (Some(day(3)), Some(day(10)), None),
        (Some(day(27)), None, Some("acme")),
        (None, Some(day(2)), None),
        (Some("2026-12-01T00:00:00.000Z".to_owned()), None, None),
        (
            None,
            Some("2026-10-01T00:00:00.000Z".to_owned()),
            Some("globex"),
        ),
    ] {
        let search = AuditSearch {
            since: since.clone(),
            until: until.clone(),
            tenant: tenant.map(|t| TenantId::parse(t).expect("tenant")),
            limit: 500,
            ..AuditSearch::default()
        };
        let tenant_rows: Vec<i64> = db
            .prepare("SELECT id FROM audit_log WHERE ?1 IS NULL OR tenant = ?1")
            .expect("q")
            .query_map([tenant], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        let expected: Vec<(i64, String)> = all
            .iter()
            .filter(|(id, at)| {
                since.as_ref().is_none_or(|s| at >= s)
                    && until.as_ref().is_none_or(|u| at < u)
                    && tenant_rows.contains(id)
            })
            .cloned()
            .collect();
        assert_eq!(run(&search), expected, "{since:?}..{until:?} {tenant:?}");
    }
}

/// Audit rows written through the Worker's own statements in two databases: every id is
/// unique across both, rises in each, and names its database; so the console's search across
/// databases pages by id as it does with one.
#[test]
fn audit_ids_written_in_two_databases_never_meet_and_follow_time() {
    use byok_core::shard::{audit_id_floor, ID_STRIDE};
    let dbs = [migrated(), migrated()];
    let mut all = Vec::new();
    let mut ms = 1_764_500_000_000u64;
    for n in 0..200u64 {
        // Several rows in the same millisecond, now in one database, now in the other.
        ms += n % 3 / 2;
        let position = (n % 5 == 0) as usize;
        if n % 7 == 3 {
            // A tenant moved from database 1 to 0 brings its rows with their ids, often
            // the newest id in database 0.
            if let Some(&(_, id)) = all.iter().rev().find(|(p, _)| *p == 1) {
                dbs[0]
                    .execute(
                        "INSERT OR IGNORE INTO audit_log (id, at, actor, tenant, provider, action, outcome)
                         VALUES (?1, '2026-11-30T00:00:00.000Z', 'u', 'moved', 'p', 'save', 'ok')",
                        [id],
                    )
                    .expect("copy");
            }
        }
        let floor = audit_id_floor(ms, position) as i64;
        let id: i64 = dbs[position]
            .query_row(
                &format!("{INSERT_AUDIT} RETURNING id"),
                rusqlite::params![
                    "2026-11-30T00:00:00.000Z",
                    "u",
                    "t",
                    "p",
                    "save",
                    "ok",
                    floor
                ],
                |r| r.get(0),
            )
            .expect("insert");
        assert_eq!(id as u64 % ID_STRIDE, position as u64, "{id}");
        assert!(id >= floor);
        all.push((position, id));
    }
    let mut ids: Vec<i64> = all.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "no id given twice");
    for position in [0, 1] {
        let mine: Vec<i64> = all
            .iter()
            .filter(|(p, _)| *p == position)
            .map(|(_, id)| *id)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "rising in database {position}"
        );
    }
    for sql in [INSERT_AUDIT, GUARDED_AUDIT] {
        assert!(
            sql.contains(&format!("/ {ID_STRIDE} + 1) * {ID_STRIDE} + "))
                && sql.contains(&format!(" % {ID_STRIDE})")),
            "the statements step by the stride core uses"
        );
    }
}
