DROP TABLE settings;
--bun:split
DROP TABLE admin_audit;
--bun:split
DROP TABLE intercept_logs;
--bun:split
DROP TABLE token_binding_nets;
--bun:split
-- Dropping the table drops its triggers, then the functions are unused.
DROP TABLE token_bindings;
--bun:split
DROP FUNCTION token_bindings_notify();
--bun:split
DROP FUNCTION token_bindings_sync_nets();
--bun:split
DROP SEQUENCE binding_version_seq;
