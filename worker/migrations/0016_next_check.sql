-- Issue #24: a cron run's cost stays flat however many keys are stored. Each row stores when
-- it is next due (Unix ms; NULL for a row without a key), written by every test, save and
-- re-check from the entry's cadence (`byok_core::recheck::stored_next_check`); the run reads
-- only rows whose time has come, through this index, and decides exactly from the entry as it
-- is now (`byok_core::recheck::triage`), storing a new time for the rows that were not due.
ALTER TABLE integrations ADD COLUMN next_check_at INTEGER;
-- Rows stored before: due from the earliest time the old selection could have picked them
-- (15 minutes after their last check; never checked: at once). A run reschedules those that
-- turn out not to be due, a bounded number per run.
UPDATE integrations SET next_check_at = COALESCE(last_checked_at + 900000, 0)
 WHERE status != 'disconnected';
CREATE INDEX integrations_by_next_check ON integrations (next_check_at)
 WHERE next_check_at IS NOT NULL;
-- The selection by last check it replaces.
DROP INDEX integrations_by_check;
