//! The admin console's decisions (issue #23): the audit search a platform admin runs across
//! tenants and the CSV it exports, and the fleet's counts by status. The Worker runs the
//! queries; what a query may ask for, and how rows become a file, are decided here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::AuditEntry;
use crate::catalog::{FieldError, Rule, ValidationErrors};
use crate::ids::{ProviderKey, TenantId};
use crate::status::Status;

/// The most rows one page of an audit search holds (and the default).
pub const MAX_AUDIT_PAGE: u32 = 500;
pub const DEFAULT_AUDIT_PAGE: u32 = 100;
/// The most rows one CSV export holds: more is paged with `before`.
pub const MAX_EXPORT_ROWS: u32 = 10_000;

/// A search of the whole audit log (`GET /v1/admin/audit`): every filter optional, newest
/// first, paged by the last row's id (`before`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSearch {
    pub tenant: Option<TenantId>,
    pub provider: Option<ProviderKey>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// Rows with a smaller id than this (the next page).
    pub before: Option<i64>,
    pub limit: u32,
    /// `format=csv`: the rows as a file.
    pub csv: bool,
}

fn field(name: &str, rule: Rule, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        rule,
        message: message.into(),
    }
}

fn is_timestamp(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

impl AuditSearch {
    /// The search a query string asks for; every bad parameter named. Unknown parameters are
    /// refused, so a misspelt filter never silently widens the search.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut s = AuditSearch {
            limit: DEFAULT_AUDIT_PAGE,
            ..Self::default()
        };
        let mut errors = Vec::new();
        let mut limit = None;
        for (name, value) in pairs {
            let value = value.trim();
            match name {
                "tenant" => match TenantId::parse(value) {
                    Ok(t) => s.tenant = Some(t),
                    Err(e) => errors.push(field("tenant", Rule::Format, format!("the tenant {e}"))),
                },
                "provider" => match ProviderKey::parse(value) {
                    Ok(p) => s.provider = Some(p),
                    Err(e) => {
                        errors.push(field("provider", Rule::Format, format!("the provider {e}")))
                    }
                },
                "action" | "actor" => {
                    if value.is_empty() || value.len() > 200 {
                        errors.push(field(name, Rule::Length, "must be 1 to 200 characters"));
                    } else if name == "action" {
                        s.action = Some(value.to_owned());
                    } else {
                        s.actor = Some(value.to_owned());
                    }
                }
                "since" | "until" => {
                    if !is_timestamp(value) {
                        errors.push(field(
                            name,
                            Rule::Format,
                            "must be an RFC 3339 time, such as 2026-11-30T00:00:00Z",
                        ));
                    } else if name == "since" {
                        s.since = Some(value.to_owned());
                    } else {
                        s.until = Some(value.to_owned());
                    }
                }
                "before" => match value.parse::<i64>() {
                    Ok(n) if n > 0 => s.before = Some(n),
                    _ => errors.push(field("before", Rule::Format, "must be a row id (a positive number)")),
                },
                "limit" => limit = Some(value.parse::<u32>().unwrap_or(0)),
                "format" => match value {
                    "json" => s.csv = false,
                    "csv" => s.csv = true,
                    _ => errors.push(field("format", Rule::Format, "must be json or csv")),
                },
                other => errors.push(field(
                    other,
                    Rule::Format,
                    "is not a filter (use tenant, provider, action, actor, since, until, before, limit, format)",
                )),
            }
        }
        if let (Some(a), Some(b)) = (&s.since, &s.until) {
            if a >= b {
                errors.push(field("until", Rule::Format, "must be after since"));
            }
        }
        // A page of JSON, or one file (as many rows as an export holds).
        let (most, default) = if s.csv {
            (MAX_EXPORT_ROWS, MAX_EXPORT_ROWS)
        } else {
            (MAX_AUDIT_PAGE, DEFAULT_AUDIT_PAGE)
        };
        match limit {
            None => s.limit = default,
            Some(n) if (1..=most).contains(&n) => s.limit = n,
            Some(_) => errors.push(field("limit", Rule::Format, format!("must be 1 to {most}"))),
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// One cell of a CSV file (RFC 4180): quoted when it holds a comma, quote or line break, and
/// never read as a formula by a spreadsheet (a cell starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return gets a leading `'`).
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The audit rows as a CSV file with a header line, lines ending in CRLF.
pub fn audit_csv(rows: &[AuditEntry]) -> String {
    let mut out = String::from("at,actor,tenant,provider,action,outcome\r\n");
    for r in rows {
        let cells = [
            r.at.as_str(),
            r.actor.as_str(),
            r.tenant.as_ref().map_or("", |t| t.as_str()),
            r.provider.as_ref().map_or("", |p| p.as_str()),
            r.action.as_str(),
            r.outcome.as_str(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// How many installs of one provider are in each status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub connected: u64,
    pub invalid: u64,
    pub unverified: u64,
    pub disconnected: u64,
}

impl StatusCounts {
    pub fn total(&self) -> u64 {
        self.connected + self.invalid + self.unverified + self.disconnected
    }

    fn add(&mut self, status: Status, n: u64) {
        let slot = match status {
            Status::Connected => &mut self.connected,
            Status::Invalid => &mut self.invalid,
            Status::Unverified => &mut self.unverified,
            Status::Disconnected => &mut self.disconnected,
        };
        *slot += n;
    }
}

/// Counts by provider and status from `(provider, status, count)` rows (one `GROUP BY`), with
/// every provider of `catalog` present even when nobody installed it. A status the service
/// does not know is skipped (and named in the second part), never counted as another.
pub fn fleet_counts<'a>(
    catalog: impl IntoIterator<Item = &'a str>,
    rows: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) -> (BTreeMap<String, StatusCounts>, Vec<String>) {
    let mut counts: BTreeMap<String, StatusCounts> = catalog
        .into_iter()
        .map(|k| (k.to_owned(), StatusCounts::default()))
        .collect();
    let mut unknown = Vec::new();
    for (provider, status, n) in rows {
        match Status::parse(status) {
            Some(s) => counts.entry(provider.to_owned()).or_default().add(s, n),
            None => unknown.push(format!("{provider}:{status}")),
        }
    }
    (counts, unknown)
}

/// A platform key's status after a test of it: the tenant keys' state machine, from what its
/// last test left (`None`: never tested since it was set, which reads as unverified). A test
/// that could not conclude leaves the status as it was.
pub fn platform_key_after(previous: Option<Status>, finding: crate::status::Finding) -> Status {
    let from = match previous {
        None | Some(Status::Disconnected) => Status::Unverified,
        Some(s) => s,
    };
    from.apply(crate::status::Event::Tested(finding))
        .unwrap_or(from)
}

/// The id of the first audit row stamped at or after `?` (or past every id when none is):
/// where a time bound splits the log.
const FIRST_ID_AT_OR_AFTER: &str =
    "COALESCE((SELECT id FROM audit_log WHERE at >= ? ORDER BY at, id LIMIT 1), 9223372036854775807)";

/// A value a query binds, in the order of its `?N` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

impl AuditSearch {
    /// The query this search runs and its parameters: each filter set becomes a condition,
    /// newest first, one page. Every filter has an index that leads with its column
    /// (`audit_log_by_tenant`, `_by_provider`, `_by_actor`, `_by_action`, and the id itself,
    /// which time bounds become), so no search scans the log; the Worker's plan tests hold
    /// every combination to that. A row written within a clock skew of a time bound (isolates'
    /// clocks differ by milliseconds) may fall on either side of it.
    pub fn query(&self) -> (String, Vec<SqlValue>) {
        let mut sql = String::from(
            "SELECT id, at, actor, tenant, provider, action, outcome FROM audit_log WHERE 1 = 1",
        );
        let mut params = Vec::new();
        // `column op operand`, where `?` in `operand` stands for the value's parameter.
        let mut filter = |column: &str, op: &str, operand: &str, value: SqlValue| {
            params.push(value);
            let operand = operand.replace('?', &format!("?{}", params.len()));
            sql.push_str(&format!(" AND {column} {op} {operand}"));
        };
        let text = |s: &str| SqlValue::Text(s.to_owned());
        if let Some(t) = &self.tenant {
            filter("tenant", "=", "?", text(t.as_str()));
        }
        if let Some(p) = &self.provider {
            filter("provider", "=", "?", text(p.as_str()));
        }
        if let Some(a) = &self.action {
            filter("action", "=", "?", text(a));
        }
        if let Some(a) = &self.actor {
            filter("actor", "=", "?", text(a));
        }
        // A time bound is also an id bound: rows are appended as time goes, so the first row
        // stamped at or after it (one read of `audit_log_by_at`) splits the log there, and the
        // search walks ids, newest first, reading only its page.
        if let Some(s) = &self.since {
            filter("id", ">=", FIRST_ID_AT_OR_AFTER, text(s));
            filter("at", ">=", "?", text(s));
        }
        if let Some(u) = &self.until {
            filter("id", "<", FIRST_ID_AT_OR_AFTER, text(u));
            filter("at", "<", "?", text(u));
        }
        if let Some(b) = self.before {
            filter("id", "<", "?", SqlValue::Int(b));
        }
        params.push(SqlValue::Int(i64::from(self.limit)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", params.len()));
        (sql, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn search(q: &[(&str, &str)]) -> Result<AuditSearch, Vec<String>> {
        AuditSearch::parse(q.iter().copied())
            .map_err(|e| e.0.into_iter().map(|f| f.field).collect())
    }

    #[test]
    fn a_search_names_every_bad_filter_and_refuses_unknown_ones() {
        let ok = search(&[
            ("tenant", "acme"),
            ("provider", "openai"),
            ("action", "save-key"),
            ("since", "2026-11-01T00:00:00Z"),
            ("until", "2026-12-01T00:00:00Z"),
            ("limit", "50"),
        ])
        .expect("valid");
        assert_eq!(ok.tenant.as_ref().map(|t| t.as_str()), Some("acme"));
        assert_eq!((ok.limit, ok.csv), (50, false));
        assert_eq!(search(&[]).expect("no filter").limit, DEFAULT_AUDIT_PAGE);
        assert_eq!(
            search(&[
                ("tenant", "Not A Tenant!"),
                ("since", "yesterday"),
                ("limit", "0"),
                ("tennant", "acme"),
                ("format", "xlsx"),
            ]),
            // The limit is checked last, once the format says how many rows a page may hold.
            Err(vec![
                "tenant".into(),
                "since".into(),
                "tennant".into(),
                "format".into(),
                "limit".into()
            ])
        );
        assert_eq!(
            search(&[
                ("since", "2026-12-01T00:00:00Z"),
                ("until", "2026-11-01T00:00:00Z")
            ]),
            Err(vec!["until".into()])
        );
        let csv = search(&[("format", "csv")]).expect("csv");
        assert!(csv.csv && csv.limit == MAX_EXPORT_ROWS);
    }

    #[test]
    fn the_csv_has_a_header_and_one_line_per_row() {
        let rows = vec![AuditEntry {
            at: "2026-11-30T10:00:00Z".into(),
            actor: "ann, the admin".into(),
            tenant: Some(TenantId::parse("acme").expect("t")),
            provider: None,
            action: "save-key".into(),
            outcome: "=HYPERLINK(\"http://evil\")".into(),
        }];
        assert_eq!(
            audit_csv(&rows),
            "at,actor,tenant,provider,action,outcome\r\n\
             2026-11-30T10:00:00Z,\"ann, the admin\",acme,,save-key,\"'=HYPERLINK(\"\"http://evil\"\")\"\r\n"
        );
    }

    #[test]
    fn counts_cover_the_catalog_and_skip_unknown_statuses() {
        let (counts, unknown) = fleet_counts(
            ["openai", "stripe"],
            [
                ("openai", "connected", 3),
                ("openai", "invalid", 1),
                ("groq", "unverified", 2),
                ("openai", "weird", 9),
            ],
        );
        assert_eq!(counts["openai"].total(), 4);
        assert_eq!(counts["stripe"], StatusCounts::default());
        assert_eq!(
            counts["groq"].unverified, 2,
            "a retired provider with installs still shows"
        );
        assert_eq!(unknown, ["openai:weird"]);
    }

    /// Reads one CSV line back (RFC 4180), for the property below.
    fn read_line(line: &str) -> Vec<String> {
        let mut cells = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', false) if cells.last().is_some_and(|s| s.is_empty()) => quoted = true,
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    if let Some(s) = cells.last_mut() {
                        s.push('"');
                    }
                }
                ('"', true) => quoted = false,
                (',', false) => cells.push(String::new()),
                (c, _) => {
                    if let Some(s) = cells.last_mut() {
                        s.push(c);
                    }
                }
            }
        }
        cells
    }

    proptest! {
        /// Any text survives a round trip through a cell (less the formula guard), and no
        /// cell starts with a character a spreadsheet would evaluate.
        #[test]
        fn cells_round_trip_and_never_start_a_formula(text in "[^\r\n]{0,40}") {
            let cell = csv_cell(&text);
            let back = read_line(&cell);
            prop_assert_eq!(back.len(), 1);
            let value = &back[0];
            prop_assert!(!value.starts_with(['=', '+', '-', '@', '\t']));
            let unguarded = value.strip_prefix('\'').filter(|_| text.starts_with(['=', '+', '-', '@', '\t'])).unwrap_or(value);
            prop_assert_eq!(unguarded, &text);
        }
    }

    proptest! {
        /// A platform key's test: passed is connected, refused is invalid, and a test that
        /// could not conclude changes nothing (a key never tested stays unverified).
        #[test]
        fn a_platform_key_status_follows_its_last_conclusive_test(
            previous in proptest::option::of(crate::status::any_status()),
            finding in prop_oneof![
                Just(crate::status::Finding::Passed),
                Just(crate::status::Finding::Rejected),
                Just(crate::status::Finding::Inconclusive),
            ],
        ) {
            use crate::status::Finding;
            let after = platform_key_after(previous, finding);
            match finding {
                Finding::Passed => prop_assert_eq!(after, Status::Connected),
                Finding::Rejected => prop_assert_eq!(after, Status::Invalid),
                Finding::Inconclusive => prop_assert_eq!(
                    after,
                    match previous {
                        None | Some(Status::Disconnected) => Status::Unverified,
                        Some(s) => s,
                    }
                ),
            }
            prop_assert_ne!(after, Status::Disconnected);
        }
    }
}
