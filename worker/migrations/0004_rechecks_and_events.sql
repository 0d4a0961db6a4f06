-- Issue #11: scheduled re-checks and status events.

-- The last test of the key that ran, whatever it concluded (Unix ms): what the scheduler counts
-- from. When the current run of failed tests began (RFC 3339), and how many inconclusive
-- tests in a row since the last conclusive one.
ALTER TABLE integrations ADD COLUMN last_checked_at INTEGER;
ALTER TABLE integrations ADD COLUMN failing_since TEXT;
ALTER TABLE integrations ADD COLUMN transient_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX integrations_by_check ON integrations (last_checked_at) WHERE status != 'disconnected';

-- Every status change (integration.status_changed): the tenant's history, and the webhook's
-- delivery state. `id` is the webhook-id of every delivery attempt.
CREATE TABLE status_events (
  id          TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  provider    TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  reason      TEXT NOT NULL,
  at          TEXT NOT NULL,
  delivery    TEXT NOT NULL CHECK (delivery IN ('none', 'pending', 'delivered', 'dead')),
  attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX status_events_by_integration ON status_events (tenant, provider, at);
