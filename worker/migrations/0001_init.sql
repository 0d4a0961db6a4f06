-- The BYOK schema. D1 (SQLite) is the source of truth; KV holds plugin bytes, compiled
-- artifacts, logos and the catalog cache.

-- The catalog, kept by platform admins. `spec` is the validated entry as JSON (ProviderSpec).
CREATE TABLE integration_providers (
  key            TEXT PRIMARY KEY,
  spec           TEXT NOT NULL,
  active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  logo_type      TEXT CHECK (logo_type IN ('image/svg+xml', 'image/png')),
  -- The platform's fallback key: sealed for the binding (tenant "platform", provider, field).
  platform_secret BLOB,
  platform_fields TEXT,
  platform_mask  TEXT,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);

-- One row per tenant and installed provider.
CREATE TABLE integrations (
  tenant       TEXT NOT NULL,
  provider     TEXT NOT NULL REFERENCES integration_providers (key),
  status       TEXT NOT NULL CHECK (status IN ('disconnected', 'connected', 'invalid', 'unverified')),
  -- The main secret, sealed (keyring frame: format, key id, nonce, ciphertext, tag).
  secret       BLOB,
  -- The other credential fields as JSON: {"name": {"plain": "..."} | {"sealed": "<base64>"}}.
  fields       TEXT,
  key_id       TEXT,
  mask         TEXT,
  last_test    TEXT,
  installed_at TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  PRIMARY KEY (tenant, provider),
  -- A row has a secret exactly when it is not disconnected.
  CHECK ((status = 'disconnected') = (secret IS NULL))
);

-- Uploaded test plugins (bytes and compiled artifacts live in KV under the digest).
CREATE TABLE plugins (
  digest      TEXT PRIMARY KEY CHECK (length(digest) = 64),
  size        INTEGER NOT NULL,
  contract    TEXT NOT NULL,
  uploaded_at TEXT NOT NULL
);

-- Who did what to which integration, when, and how it ended. Never a secret.
CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  at       TEXT NOT NULL,
  actor    TEXT NOT NULL,
  tenant   TEXT,
  provider TEXT,
  action   TEXT NOT NULL,
  outcome  TEXT NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant, id);
