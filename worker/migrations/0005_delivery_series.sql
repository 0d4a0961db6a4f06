-- Issue #20 (review L4): a webhook event's attempts belong to a series (0, then one more for
-- each redelivery), so a leftover attempt of a replaced series can never overwrite the newer
-- one's state; and `attempted_at` (Unix ms: the last attempt recorded, or when the series
-- started) lets the cron dead-letter a `pending` event that stopped moving, instead of leaving
-- it pending, and so unredeliverable, for ever.
ALTER TABLE status_events ADD COLUMN series INTEGER NOT NULL DEFAULT 0;
ALTER TABLE status_events ADD COLUMN attempted_at INTEGER;
UPDATE status_events SET attempted_at = CAST(strftime('%s', at) AS INTEGER) * 1000
  WHERE delivery = 'pending';
CREATE INDEX status_events_pending ON status_events (attempted_at) WHERE delivery = 'pending';
