//! Moving tenants between databases (docs/capacity.md, "Adding a database"), for platform
//! admins. While a move is under way (`D1_SHARDS_NEXT` set), `copy` copies each moving
//! tenant's rows to the database it moves to; once the list has changed (`D1_SHARDS` set to the
//! new list, `D1_SHARDS_NEXT` removed), `prune` deletes the rows a database no longer serves,
//! and only those the copy recorded. Each call walks a bounded share of one database's tenants
//! and says where to go on (`next`); `byok moves copy|prune` loops until every database is done.
//!
//! Sealed keys move as they are stored (hex inside SQL, never opened here), so a move needs no
//! keyring and never holds a key in clear.

use byok_core::api::ProblemKind;
use serde::{Deserialize, Serialize};
use worker::{D1Database, Request};

use crate::auth::{Principal, Role};
use crate::http::{self, problem, ApiError, ApiResult};
use crate::store::text;
use crate::util::Counted;
use crate::App;

/// A table whose rows about a tenant move with it, replaced whole in the database it moves to.
pub(crate) struct Moved {
    pub name: &'static str,
    /// Every column, in the schema's order (a test holds this to the migrated schema).
    pub columns: &'static [&'static str],
    /// Columns holding bytes (sealed keys): carried as hex text.
    pub blobs: &'static [&'static str],
    /// Whether its `provider` (the second column) references the catalog, so the entry must be
    /// anchored in the target first.
    pub references_catalog: bool,
    /// Whether its rows are the tenant's current state (keys, policies, caps), which a prune
    /// deletes only while they are as the copy saw them ([`Fingerprint`]). History (events,
    /// audit rows) is not: retention trims it in every database meanwhile, and the stall sweep
    /// marks old deliveries, so it changes without anyone writing about the tenant.
    pub vouched: bool,
}

/// The tables copied by replacing the tenant's rows, in the order they are copied.
pub(crate) const MOVED: &[Moved] = &[
    Moved {
        name: "integrations",
        columns: &[
            "tenant",
            "provider",
            "status",
            "secret",
            "fields",
            "key_id",
            "mask",
            "last_test",
            "installed_at",
            "updated_at",
            "last_used_at",
            "last_verified_at",
            "retest_claimed_at",
            "last_checked_at",
            "failing_since",
            "transient_failures",
            "key_version",
            "last_version",
            "key_worked",
            "pending_version",
            "pending_state",
            "pending_secret",
            "pending_fields",
            "pending_key_id",
            "pending_mask",
            "pending_test",
            "pending_by",
            "pending_at",
            "expires_at",
            "expiry_notified",
            "pending_expires_at",
            "expiry_notice_id",
            "next_check_at",
        ],
        blobs: &["secret", "pending_secret"],
        references_catalog: true,
        vouched: true,
    },
    Moved {
        name: "tenant_policies",
        columns: &[
            "tenant",
            "provider",
            "platform_fallback",
            "updated_at",
            "updated_by",
            "platform_daily_cap",
        ],
        blobs: &[],
        references_catalog: true,
        vouched: true,
    },
    Moved {
        name: "tenant_caps",
        columns: &["tenant", "platform_daily_cap", "updated_at", "updated_by"],
        blobs: &[],
        references_catalog: false,
        vouched: true,
    },
    Moved {
        name: "status_events",
        columns: &[
            "id",
            "tenant",
            "provider",
            "from_status",
            "to_status",
            "reason",
            "at",
            "delivery",
            "attempts",
            "series",
            "attempted_at",
        ],
        blobs: &[],
        references_catalog: false,
        vouched: false,
    },
    Moved {
        name: "audit_log",
        columns: &[
            "id", "at", "actor", "tenant", "provider", "action", "outcome",
        ],
        blobs: &[],
        references_catalog: false,
        vouched: false,
    },
];

/// Daily usage: merged by adding, since the usage of a moving tenant is counted in the database
/// it moves to from the moment the move starts (`crate::usage`).
pub(crate) const USAGE: Moved = Moved {
    name: "usage_daily",
    columns: &[
        "day",
        "tenant",
        "provider",
        "source",
        "resolves",
        "reports",
        "rejections",
    ],
    blobs: &[],
    references_catalog: false,
    vouched: false,
};

/// Tables with a `tenant` column that stay where they are, and why (held to the schema by
/// `moves_tests.rs`).
#[cfg(test)]
pub(crate) const NOT_MOVED: &[(&str, &str)] = &[
    (
        "connect_links",
        "kept in the home database: a link is looked up by its digest alone",
    ),
    (
        "shard_moves",
        "the record of a move, kept by the database the tenant was copied into",
    ),
];

/// Rows per read and per insert (one JSON parameter each, well under D1's size limits).
const CHUNK: u32 = 200;
/// Tenants a call looks at, at most.
const PAGE: u32 = 100;
/// A call stops starting tenants past this many queries (an invocation may make 1,000).
const BUDGET: u32 = 600;

/// Columns the service itself rewrites on rows a database keeps about a tenant it does not
/// serve: the cron parks them, or holds a moving tenant's until its copy. A copy does not vouch
/// for them ([`Fingerprint`]).
pub(crate) const SCHEDULING: &[&str] = &["next_check_at"];

/// What a copy vouches for: a digest of a tenant's current state in a database (the rows of
/// every [`Moved::vouched`] table), row by row in rowid order (so chunk sizes do not matter),
/// without the [`SCHEDULING`] columns. The copy records the source's; the prune recomputes it
/// there and deletes only when nothing has written since: a key saved, removed or a policy
/// changed through a path that did not know of the move (an isolate that had not seen
/// `D1_SHARDS_NEXT`, a hand edit) is kept, never lost.
pub(crate) struct Fingerprint(sha2::Sha256);

impl Fingerprint {
    pub(crate) fn new() -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::new())
    }

    /// Adds one chunk of `t`'s rows, as [`read_chunk_sql`] reads them (nothing unless `t` is
    /// vouched for).
    pub(crate) fn rows(&mut self, t: &Moved, chunk: &str) -> Result<(), ApiError> {
        use sha2::Digest as _;
        if !t.vouched {
            return Ok(());
        }
        let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(chunk).map_err(|e| {
            ApiError::from(worker::Error::RustError(format!(
                "a chunk of {} is not rows: {e}",
                t.name
            )))
        })?;
        for mut row in rows {
            for (i, c) in t.columns.iter().enumerate().rev() {
                if SCHEDULING.contains(c) && i < row.len() {
                    row.remove(i);
                }
            }
            self.0.update(t.name.as_bytes());
            self.0.update([0]);
            self.0
                .update(serde_json::Value::Array(row).to_string().as_bytes());
            self.0.update([b'\n']);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> String {
        use sha2::Digest as _;
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn column_out(t: &Moved, c: &str) -> String {
    if t.blobs.contains(&c) {
        format!("iif({c} IS NULL, NULL, hex({c}))")
    } else {
        c.to_owned()
    }
}

/// One chunk of a tenant's rows after rowid ?2, at most ?3: how many, the last rowid, and the
/// rows as a JSON array of arrays in column order.
pub(crate) fn read_chunk_sql(t: &Moved) -> String {
    let cols: Vec<String> = t.columns.iter().map(|c| column_out(t, c)).collect();
    format!(
        "SELECT COUNT(*) AS n, MAX(rid) AS last, json_group_array(json_array({})) AS rows
         FROM (SELECT rowid AS rid, * FROM {} WHERE tenant = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3)",
        cols.join(", "),
        t.name
    )
}

fn values_in(t: &Moved) -> String {
    t.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if t.blobs.contains(c) {
                format!("unhex(value ->> {i})")
            } else {
                format!("value ->> {i}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts a chunk (?1, as [`read_chunk_sql`] gave it).
pub(crate) fn write_chunk_sql(t: &Moved) -> String {
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
        t.name,
        t.columns.join(", "),
        values_in(t)
    )
}

/// Adds a chunk of usage (?1) to what the target counted, unless the tenant's copy from ?3 for
/// the move to ?4 is recorded (?2: the tenant).
pub(crate) fn merge_usage_sql() -> String {
    format!(
        "INSERT INTO usage_daily ({}) SELECT {} FROM json_each(?1)
         WHERE NOT EXISTS (SELECT 1 FROM shard_moves WHERE tenant = ?2 AND source = ?3 AND next = ?4)
         ON CONFLICT (day, tenant, provider, source) DO UPDATE SET
           resolves = resolves + excluded.resolves,
           reports = reports + excluded.reports,
           rejections = rejections + excluded.rejections",
        USAGE.columns.join(", "),
        values_in(&USAGE)
    )
}

/// Anchors the catalog entries a chunk (?1) references, at ?2 (inactive; a no-op where the
/// entry is).
pub(crate) const ANCHOR_CHUNK: &str =
    "INSERT INTO integration_providers (key, spec, active, created_at, updated_at)
     SELECT DISTINCT value ->> 1, '{}', 0, ?2, ?2 FROM json_each(?1) WHERE true
     ON CONFLICT (key) DO NOTHING";

pub(crate) fn delete_tenant_sql(table: &str) -> String {
    format!("DELETE FROM {table} WHERE tenant = ?1")
}

/// The tenant's rows in each table, to compare a copy with its source.
pub(crate) fn count_tenant_sql() -> String {
    let parts: Vec<String> = MOVED
        .iter()
        .map(|t| {
            format!(
                "(SELECT COUNT(*) FROM {} WHERE tenant = ?1) AS {}",
                t.name, t.name
            )
        })
        .collect();
    format!("SELECT {}", parts.join(", "))
}

/// The tenants a database holds rows about, after ?1, at most ?2, in order: each table walked
/// through its index that starts with the tenant. (D1 refuses a compound SELECT of more than
/// a few terms, so they are grouped three by three.)
pub(crate) fn tenants_after_sql() -> String {
    let arms: Vec<String> = MOVED
        .iter()
        .chain(std::iter::once(&USAGE))
        .map(|t| {
            format!(
                "SELECT tenant FROM (SELECT DISTINCT tenant FROM {} WHERE tenant > ?1 ORDER BY tenant LIMIT ?2)",
                t.name
            )
        })
        .collect();
    // D1 allows few terms in one compound SELECT: the arms go in groups, each a subquery.
    let groups: Vec<String> = arms
        .chunks(3)
        .map(|g| format!("SELECT tenant FROM ({})", g.join(" UNION ")))
        .collect();
    format!("{} ORDER BY tenant LIMIT ?2", groups.join(" UNION "))
}

/// The record of a tenant's copy, if any: its source's [`Fingerprint`] (NULL for copies made
/// before migration 0019).
pub(crate) const MOVE_RECORDED: &str =
    "SELECT digest FROM shard_moves WHERE tenant = ?1 AND source = ?2 AND next = ?3";

pub(crate) const RECORD_MOVE: &str =
    "INSERT INTO shard_moves (tenant, source, next, copied_at, digest) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT DO NOTHING";

/// Which database a call walks, and from where.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkRequest {
    /// The binding of the database to walk (one D1_SHARDS lists).
    #[schema(
        example = "DB",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z_][A-Za-z0-9_]*$"
    )]
    database: String,
    /// Where the last call stopped (its `next`); absent to start.
    #[schema(max_length = 200)]
    after: Option<String>,
}

impl WalkRequest {
    /// The request as the schema states it, or 422 saying which field breaks it.
    fn checked(self) -> Result<Self, ApiError> {
        let bad = |detail: &str| Err(problem(ProblemKind::ValidationFailed, detail));
        let mut chars = self.database.chars();
        let binding = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && self.database.len() <= 64;
        if !binding {
            return bad("database must name a binding: letters, digits and _, not starting with a digit, at most 64.");
        }
        if self.after.as_ref().is_some_and(|a| a.chars().count() > 200) {
            return bad("after must be at most 200 characters: the `next` of the last call.");
        }
        Ok(self)
    }
}

/// The databases tenants are spread over, and where a move under way goes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MovesStatus {
    /// D1_SHARDS: the bindings that serve tenants, the home database first.
    databases: Vec<String>,
    /// D1_SHARDS_NEXT, while a move is under way.
    next: Option<Vec<String>>,
}

/// What one call did.
#[derive(Serialize, Default, utoipa::ToSchema)]
pub struct WalkReport {
    /// The database walked.
    database: String,
    /// Tenants looked at.
    scanned: u32,
    /// Tenants copied (or pruned) by this call, with their rows per table.
    done: Vec<TenantMoved>,
    /// Tenants copied before (a call that stopped partway, run again), left as they are.
    already: u32,
    /// Tenants whose rows here the prune kept, and why (never deleted without a record of
    /// their copy).
    kept: Vec<Kept>,
    /// Where the next call starts; absent when the database is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantMoved {
    tenant: String,
    /// The database it moved to (copy) or from which its old rows were removed (prune).
    to: String,
    /// Rows per table.
    rows: std::collections::BTreeMap<String, u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Kept {
    tenant: String,
    why: String,
}

/// `GET /v1/admin/moves`: the lists of databases, and whether a move is under way.
pub async fn status(app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    Ok(http::json(
        200,
        &MovesStatus {
            databases: app.shard_names().to_vec(),
            next: app.shard_move().map(|(m, _)| m.to().names().to_vec()),
        },
    )?)
}

fn position(names: &[String], binding: &str) -> Result<usize, ApiError> {
    names.iter().position(|n| n == binding).ok_or_else(|| {
        problem(
            ProblemKind::NotFound,
            format!(
                "{binding:?} is not a database of D1_SHARDS ({}).",
                names.join(", ")
            ),
        )
    })
}

async fn walk(db: &D1Database, after: Option<&str>) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        tenant: String,
    }
    Ok(db
        .prepare(tenants_after_sql())
        .bind(&[text(after.unwrap_or("")), PAGE.into()])?
        .all()
        .await
        .counted()?
        .results::<Row>()?
        .into_iter()
        .map(|r| r.tenant)
        .collect())
}

async fn counts(db: &D1Database, tenant: &str) -> Result<serde_json::Value, ApiError> {
    db.prepare(count_tenant_sql())
        .bind(&[text(tenant)])?
        .first::<serde_json::Value>(None)
        .await
        .counted()?
        .ok_or_else(|| ApiError::from(worker::Error::RustError("no counts".into())))
}

/// The record of `tenant`'s copy from `source` for the list `next` in `db`: `None` when there
/// is none, else the source's fingerprint when the copy recorded one.
async fn record(
    db: &D1Database,
    tenant: &str,
    source: &str,
    next: &str,
) -> Result<Option<Option<String>>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        digest: Option<String>,
    }
    Ok(db
        .prepare(MOVE_RECORDED)
        .bind(&[text(tenant), text(source), text(next)])?
        .first::<Row>(None)
        .await
        .counted()?
        .map(|r| r.digest))
}

/// The [`Fingerprint`] of `tenant`'s rows in `db`.
async fn fingerprint(db: &D1Database, tenant: &str) -> Result<String, ApiError> {
    let mut f = Fingerprint::new();
    for t in MOVED.iter().filter(|t| t.vouched) {
        for (_, chunk) in read_all(db, t, tenant).await? {
            f.rows(t, &chunk)?;
        }
    }
    Ok(f.finish())
}

#[derive(Deserialize)]
struct Chunk {
    n: f64,
    last: Option<f64>,
    rows: String,
}

/// Every chunk of `tenant`'s rows of `t` in `db`, in rowid order.
async fn read_all(
    db: &D1Database,
    t: &Moved,
    tenant: &str,
) -> Result<Vec<(u32, String)>, ApiError> {
    let mut after = 0.0;
    let mut chunks = Vec::new();
    loop {
        let c = db
            .prepare(read_chunk_sql(t))
            .bind(&[text(tenant), after.into(), CHUNK.into()])?
            .first::<Chunk>(None)
            .await
            .counted()?
            .ok_or_else(|| ApiError::from(worker::Error::RustError("no chunk".into())))?;
        let n = c.n as u32;
        if n == 0 {
            break;
        }
        chunks.push((n, c.rows));
        match c.last {
            Some(last) if n == CHUNK => after = last,
            _ => break,
        }
    }
    Ok(chunks)
}

/// Copies `tenant` from `from` to `to`, as the move to `next` (its list) from binding `source`.
async fn copy_tenant(
    from: &D1Database,
    to: &D1Database,
    tenant: &str,
    source: &str,
    next: &str,
) -> Result<std::collections::BTreeMap<String, u64>, ApiError> {
    let now = crate::util::rfc3339(crate::util::now_millis());
    // The target's rows about the tenant go first (a copy that stopped partway is redone
    // whole); its usage stays, since the move counts the tenant's new usage there.
    let deletes = MOVED
        .iter()
        .map(|t| to.prepare(delete_tenant_sql(t.name)).bind(&[text(tenant)]))
        .collect::<worker::Result<Vec<_>>>()?;
    to.batch(deletes).await.counted()?;
    let mut rows = std::collections::BTreeMap::new();
    let mut vouched = Fingerprint::new();
    for t in MOVED {
        let mut copied = 0u64;
        for (n, chunk) in read_all(from, t, tenant).await? {
            vouched.rows(t, &chunk)?;
            let mut statements = Vec::new();
            if t.references_catalog {
                statements.push(to.prepare(ANCHOR_CHUNK).bind(&[text(&chunk), text(&now)])?);
            }
            statements.push(to.prepare(write_chunk_sql(t)).bind(&[text(&chunk)])?);
            to.batch(statements).await.counted()?;
            copied += u64::from(n);
        }
        rows.insert(t.name.to_owned(), copied);
    }
    let (here, there) = futures_util::future::join(counts(from, tenant), counts(to, tenant)).await;
    let (here, there) = (here?, there?);
    if here != there {
        worker::console_error!("move of {tenant}: counts differ: {here} here, {there} there");
        return Err(problem(
            ProblemKind::Conflict,
            format!("The copy of tenant {tenant} does not match its source ({here} there, {there} copied): nothing was recorded, and the next call copies it again."),
        ));
    }
    // Usage last, added to what the target counted since the move began, in one batch with
    // the record of the copy: never added twice.
    let mut statements = Vec::new();
    let mut usage = 0u64;
    for (n, chunk) in read_all(from, &USAGE, tenant).await? {
        statements.push(to.prepare(merge_usage_sql()).bind(&[
            text(&chunk),
            text(tenant),
            text(source),
            text(next),
        ])?);
        usage += u64::from(n);
    }
    statements.push(to.prepare(RECORD_MOVE).bind(&[
        text(tenant),
        text(source),
        text(next),
        (crate::util::now_millis() as f64).into(),
        text(&vouched.finish()),
    ])?);
    to.batch(statements).await.counted()?;
    rows.insert(USAGE.name.to_owned(), usage);
    Ok(rows)
}

/// `POST /v1/admin/moves/copy {"database", "after"}`: copies the moving tenants of one
/// database, a bounded share per call.
pub async fn copy(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let body = http::read_json::<WalkRequest>(req, 4 * 1024)
        .await?
        .checked()?;
    let Some((moving, next_dbs)) = app.shard_move() else {
        return Err(problem(
            ProblemKind::Conflict,
            "No move is under way: set D1_SHARDS_NEXT to the new list of databases and deploy, then copy.",
        ));
    };
    let names = app.shard_names();
    let at = position(names, &body.database)?;
    let from = &app.shards()[at];
    let next = moving.to().names().join(",");
    let start = crate::util::subrequests();
    let mut report = WalkReport {
        database: body.database.clone(),
        ..Default::default()
    };
    let tenants = walk(from, body.after.as_deref()).await?;
    let full = tenants.len() as u32 == PAGE;
    for tenant in &tenants {
        if crate::util::subrequests().saturating_sub(start) > BUDGET {
            report.next = Some(tenant_before(&tenants, tenant, body.after.as_deref()));
            return Ok(http::json(200, &report)?);
        }
        report.scanned += 1;
        // Rows here about a tenant another database serves (left by an earlier move) are not
        // this database's to copy.
        if app.shard_of(tenant) != at {
            continue;
        }
        let Some(m) = moving.moving(tenant) else {
            continue;
        };
        let to = &next_dbs[m.to];
        if record(to, tenant, &body.database, &next).await?.is_some() {
            report.already += 1;
            continue;
        }
        let rows = copy_tenant(from, to, tenant, &body.database, &next).await?;
        report.done.push(TenantMoved {
            tenant: tenant.clone(),
            to: m.to_name.to_owned(),
            rows,
        });
    }
    report.next = full.then(|| tenants.last().cloned()).flatten();
    Ok(http::json(200, &report)?)
}

/// The cursor that resumes at `tenant`: the one before it in the page, or the call's own.
fn tenant_before(tenants: &[String], tenant: &str, start: Option<&str>) -> String {
    tenants
        .iter()
        .take_while(|t| t.as_str() != tenant)
        .last()
        .map(String::as_str)
        .or(start)
        .unwrap_or_default()
        .to_owned()
}

/// `POST /v1/admin/moves/prune {"database", "after"}`: once the list has changed, deletes
/// from one database the rows of tenants another database now serves, when that database
/// records their copy from this one under the current list; any other is kept and named.
pub async fn prune(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let body = http::read_json::<WalkRequest>(req, 4 * 1024)
        .await?
        .checked()?;
    app.check_no_move("pruning")?;
    let names = app.shard_names();
    let at = position(names, &body.database)?;
    let here = &app.shards()[at];
    let list = names.join(",");
    let start = crate::util::subrequests();
    let mut report = WalkReport {
        database: body.database.clone(),
        ..Default::default()
    };
    let tenants = walk(here, body.after.as_deref()).await?;
    let full = tenants.len() as u32 == PAGE;
    for tenant in &tenants {
        if crate::util::subrequests().saturating_sub(start) > BUDGET {
            report.next = Some(tenant_before(&tenants, tenant, body.after.as_deref()));
            return Ok(http::json(200, &report)?);
        }
        report.scanned += 1;
        let home = app.shard_of(tenant);
        if home == at {
            continue;
        }
        let kept = |why: String| Kept {
            tenant: tenant.clone(),
            why,
        };
        match record(&app.shards()[home], tenant, &body.database, &list).await? {
            None => {
                report.kept.push(kept(format!(
                    "{} serves this tenant but holds no record of copying it from {} for the list {list}: its rows here are kept",
                    names[home], body.database
                )));
                continue;
            }
            Some(Some(vouched)) if fingerprint(here, tenant).await? != vouched => {
                report.kept.push(kept(format!(
                    "its rows in {} changed after {} copied them (a write that did not go through the move: an isolate that had not seen D1_SHARDS_NEXT, or a hand edit): they are kept; compare them with {}'s and delete them by hand",
                    body.database, names[home], names[home]
                )));
                continue;
            }
            // Unchanged since the copy, or copied before copies recorded what they saw.
            Some(_) => {}
        }
        let before = counts(here, tenant).await?;
        let deletes = MOVED
            .iter()
            .chain(std::iter::once(&USAGE))
            .map(|t| {
                here.prepare(delete_tenant_sql(t.name))
                    .bind(&[text(tenant)])
            })
            .collect::<worker::Result<Vec<_>>>()?;
        here.batch(deletes).await.counted()?;
        report.done.push(TenantMoved {
            tenant: tenant.clone(),
            to: names[home].clone(),
            rows: MOVED
                .iter()
                .map(|t| (t.name.to_owned(), before[t.name].as_u64().unwrap_or(0)))
                .collect(),
        });
    }
    report.next = full.then(|| tenants.last().cloned()).flatten();
    Ok(http::json(200, &report)?)
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
