-- Connect links (issue #22): single-use links that open the pages inside the platform's app.
-- Stored by the SHA-256 of the link's secret part, never the link itself; `used_at` is set by
-- one conditional update, so two concurrent opens cannot both succeed. The cron deletes rows a
-- day after they expire (a bounded table).
CREATE TABLE connect_links (
  digest TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  plan TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX connect_links_expiry ON connect_links (expires_at);
