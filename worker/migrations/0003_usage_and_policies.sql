-- Issue #10: usage feedback, tenant fallback policies, usage.

-- The last resolve that returned the tenant's key, the last test that concluded (connected or
-- rejected; a transient result is not a verification), and the last re-test a usage report
-- claimed (Unix ms; at most one per integration per dedup window, across isolates).
ALTER TABLE integrations ADD COLUMN last_used_at TEXT;
ALTER TABLE integrations ADD COLUMN last_verified_at TEXT;
ALTER TABLE integrations ADD COLUMN retest_claimed_at INTEGER;

-- A platform admin's rule for the platform key, per tenant and provider. No row: inherit the
-- catalog entry's rule.
CREATE TABLE tenant_policies (
  tenant            TEXT NOT NULL,
  provider          TEXT NOT NULL REFERENCES integration_providers (key),
  platform_fallback TEXT NOT NULL CHECK (platform_fallback IN ('inherit', 'never')),
  updated_at        TEXT NOT NULL,
  updated_by        TEXT NOT NULL,
  PRIMARY KEY (tenant, provider)
);

-- Resolves and usage reports per UTC day, tenant, provider and source of the key, aggregated
-- in each isolate and added here in batches: what the platform pays for, and the aggregated
-- audit trace of resolves.
CREATE TABLE usage_daily (
  day        TEXT NOT NULL,
  tenant     TEXT NOT NULL,
  provider   TEXT NOT NULL,
  source     TEXT NOT NULL CHECK (source IN ('tenant', 'platform')),
  resolves   INTEGER NOT NULL DEFAULT 0,
  reports    INTEGER NOT NULL DEFAULT 0,
  rejections INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, tenant, provider, source)
);
