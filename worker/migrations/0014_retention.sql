-- Retention (issue #24). A scheduled re-check that changes nothing writes no audit row: it is
-- counted here, per day, provider and outcome (the row's `last_checked_at` says when it ran).
-- The cron removes aged rows of this table, `audit_log`, `status_events` and `usage_daily` in
-- bounded batches; `status_events_by_at` lets it find the oldest events without a scan.
CREATE TABLE recheck_daily (
  day      TEXT NOT NULL,
  provider TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  checks   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, provider, outcome)
);
CREATE INDEX status_events_by_at ON status_events (at);
