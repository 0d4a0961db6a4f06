-- The console's fleet counts (issue #24): installs by provider and status, kept by triggers in
-- the same transaction as every change to `integrations`, so that the fleet view reads a few
-- rows (one per provider and status) instead of counting every install of every tenant.
CREATE TABLE fleet_counts (
  provider TEXT NOT NULL,
  status   TEXT NOT NULL,
  n        INTEGER NOT NULL,
  PRIMARY KEY (provider, status)
);
INSERT INTO fleet_counts (provider, status, n)
  SELECT provider, status, COUNT(*) FROM integrations WHERE true GROUP BY provider, status;
CREATE TRIGGER fleet_counts_on_insert AFTER INSERT ON integrations BEGIN
  INSERT INTO fleet_counts (provider, status, n) VALUES (NEW.provider, NEW.status, 1)
    ON CONFLICT (provider, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER fleet_counts_on_delete AFTER DELETE ON integrations BEGIN
  UPDATE fleet_counts SET n = n - 1 WHERE provider = OLD.provider AND status = OLD.status;
END;
CREATE TRIGGER fleet_counts_on_update AFTER UPDATE OF provider, status ON integrations
  WHEN OLD.provider IS NOT NEW.provider OR OLD.status IS NOT NEW.status BEGIN
  UPDATE fleet_counts SET n = n - 1 WHERE provider = OLD.provider AND status = OLD.status;
  INSERT INTO fleet_counts (provider, status, n) VALUES (NEW.provider, NEW.status, 1)
    ON CONFLICT (provider, status) DO UPDATE SET n = n + 1;
END;
