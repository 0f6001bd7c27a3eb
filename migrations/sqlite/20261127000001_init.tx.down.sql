DROP TABLE settings;
--bun:split
DROP TABLE admin_audit;
--bun:split
DROP TABLE intercept_logs;
--bun:split
DROP TRIGGER token_bindings_deleted;
--bun:split
DROP TRIGGER token_bindings_changed;
--bun:split
DROP TABLE binding_changes;
--bun:split
DROP TABLE token_bindings;
--bun:split
DROP TABLE sentinel_seq;
