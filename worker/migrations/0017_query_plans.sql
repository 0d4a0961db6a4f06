-- Issue #24: no query reads a whole table that grows with tenants or time (the Worker's plan
-- tests, worker/src/store_plan_tests.rs, hold every statement to it).
--
-- The console's audit search by action, and its time bounds, which it turns into id bounds
-- by finding the first row at or after each bound (one index read each). Unchanged scheduled
-- re-checks write no audit row (0014), so what these cost is paid once per thing a person
-- did or a change.
CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_at ON audit_log (at);
-- The dead letters (and the other delivery states) newest first, without walking every
-- event to find the few that died.
CREATE INDEX status_events_by_delivery ON status_events (delivery, at);
