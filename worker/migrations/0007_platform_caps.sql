-- Issue #21 (part 4): a hard daily cap on the platform key's resolves per tenant, per
-- provider (on the tenant's policy row) and over every provider (`tenant_caps`). NULL: no
-- cap. The counts themselves live in a Durable Object per tenant (PlatformQuota), where
-- they are exact under any concurrency; D1 holds only the caps an admin set.
ALTER TABLE tenant_policies ADD COLUMN platform_daily_cap INTEGER
  CHECK (platform_daily_cap IS NULL OR platform_daily_cap >= 0);
CREATE TABLE tenant_caps (
  tenant             TEXT PRIMARY KEY,
  platform_daily_cap INTEGER NOT NULL CHECK (platform_daily_cap >= 0),
  updated_at         TEXT NOT NULL,
  updated_by         TEXT NOT NULL
);
