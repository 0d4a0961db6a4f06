-- The admin console (issue #23): the failing keys in the order they failed, and the audit log
-- searched by provider or by actor across tenants, each read through an index rather than a
-- scan of a table that grows with tenants and time.
CREATE INDEX integrations_failing ON integrations (failing_since, tenant, provider)
  WHERE failing_since IS NOT NULL;
CREATE INDEX audit_log_by_provider ON audit_log (provider, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
