-- What a copy vouched for (issue #24, docs/capacity.md "Adding a database"): the digest of
-- the tenant's current state (keys, policies, caps) in the source database as it was copied
-- (`moves::Fingerprint`). The
-- prune deletes the source's rows only while they still have this digest, so a write that
-- reached the source after its copy (from an isolate that had not seen the move, or by hand)
-- is kept and named instead of lost. NULL for copies recorded before this migration.
ALTER TABLE shard_moves ADD COLUMN digest TEXT;
