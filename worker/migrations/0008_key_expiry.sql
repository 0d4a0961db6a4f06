-- Issue #21 (part 3): a key may carry an expiry (Unix ms), entered with it. The cron sends a
-- notice 14 days and 1 day before and at expiry, once each (`expiry_notified`: 0 none yet,
-- 1 the 14-day notice, 2 the 1-day notice, 3 expired), and re-checks tighten near it. A new
-- key brings its own expiry (or none) and starts again from 0.
ALTER TABLE integrations ADD COLUMN expires_at INTEGER;
ALTER TABLE integrations ADD COLUMN expiry_notified INTEGER NOT NULL DEFAULT 0
  CHECK (expiry_notified BETWEEN 0 AND 3);
ALTER TABLE integrations ADD COLUMN pending_expires_at INTEGER;
-- The id of the last notice's event: its insert, in the same batch as the mark, checks it,
-- so a run that lost the race stores no second event.
ALTER TABLE integrations ADD COLUMN expiry_notice_id TEXT;
-- The cron's sweep reads only keys with a notice still to send, by expiry.
CREATE INDEX integrations_by_expiry ON integrations (expires_at)
  WHERE expires_at IS NOT NULL AND expiry_notified < 3;
