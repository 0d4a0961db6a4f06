-- The platform key's own test (issue #23, Console → Platform keys): the status its last test
-- left (`connected`, `invalid`, `unverified`; NULL until it is first tested, and again when
-- the key is replaced) and when a test last concluded. Nullable columns only, so the release
-- before this one still reads every row.
ALTER TABLE integration_providers ADD COLUMN platform_status TEXT;
ALTER TABLE integration_providers ADD COLUMN platform_verified_at TEXT;
-- When each provider's platform key was last resolved: one index lookup per provider (the
-- newest day), instead of a scan of a table that grows with tenants and days.
CREATE INDEX usage_daily_by_provider ON usage_daily (provider, source, day);
