-- Re-sealing after a key rotation selects rows by the key id that sealed them, and the keyring
-- report counts rows per key id: both read this index, not the whole table.
CREATE INDEX integrations_by_key_id ON integrations (key_id, tenant, provider);
