-- Each entry's fixtures (documented provider answers the test plugin must pass), kept apart
-- from the entry's spec: the spec is what tenants see, and a Worker one release older still
-- reads it (its entry type refuses fields it does not know). Additive: NULL for entries saved
-- before; their next save through the admin API must bring fixtures.
ALTER TABLE integration_providers ADD COLUMN fixtures TEXT;
