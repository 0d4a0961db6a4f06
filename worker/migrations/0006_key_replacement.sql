-- Issue #21 (part 1): a new key saved over a working one waits beside it, as the pending key,
-- until its own test passes; resolve only ever reads the serving key (`secret`).
--
-- Versions count the keys an integration has held: `last_version` the last given out,
-- `key_version` the serving key's. Every write about the pending key is guarded by its
-- version, so a test's result lands only on the key it tested and two saves racing end with
-- exactly one winner.
ALTER TABLE integrations ADD COLUMN key_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
-- The serving key passed a test since it was stored: a later refusal means it was revoked,
-- not mistyped (the reason the user is given differs).
ALTER TABLE integrations ADD COLUMN key_worked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN pending_version INTEGER;
ALTER TABLE integrations ADD COLUMN pending_state TEXT
  CHECK (pending_state IS NULL OR pending_state IN ('testing', 'inconclusive'));
-- Sealed like `secret` and `fields` (same keyring, same associated data).
ALTER TABLE integrations ADD COLUMN pending_secret BLOB;
ALTER TABLE integrations ADD COLUMN pending_fields TEXT;
ALTER TABLE integrations ADD COLUMN pending_key_id TEXT;
ALTER TABLE integrations ADD COLUMN pending_mask TEXT;
ALTER TABLE integrations ADD COLUMN pending_test TEXT;
ALTER TABLE integrations ADD COLUMN pending_by TEXT;
-- Unix ms of the pending key's save.
ALTER TABLE integrations ADD COLUMN pending_at INTEGER;
UPDATE integrations SET key_version = 1, last_version = 1 WHERE secret IS NOT NULL;
UPDATE integrations SET key_worked = 1 WHERE status = 'connected';
-- Keyring rotation finds pending keys sealed under a retiring key.
CREATE INDEX integrations_by_pending_key_id ON integrations (pending_key_id)
  WHERE pending_key_id IS NOT NULL;
