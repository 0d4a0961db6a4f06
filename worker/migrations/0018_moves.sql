-- Moving tenants between databases (issue #24, docs/capacity.md "Adding a database").
--
-- What a move copied: one row per tenant copied into this database from `source` (a binding)
-- for the move to `next` (the D1_SHARDS_NEXT list it was copied under). A copy that finds its
-- row skips the tenant (so usage, merged by adding, is never added twice), and a prune deletes
-- a tenant's rows from `source` only when the tenant's database holds this row: the service
-- removes only what it copied itself.
CREATE TABLE shard_moves (
  tenant    TEXT NOT NULL,
  source    TEXT NOT NULL,
  next      TEXT NOT NULL,
  copied_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, source, next)
);

-- A database's tenants, walked in order by a move (each table that holds rows about a tenant
-- has an index that starts with it; usage had none).
CREATE INDEX usage_daily_by_tenant ON usage_daily (tenant, day);
