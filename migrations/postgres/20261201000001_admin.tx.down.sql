DROP INDEX token_bindings_last_used_at_key;
--bun:split
DROP INDEX token_bindings_status_kind;
--bun:split
DROP INDEX intercept_logs_created_at_key_ip;
--bun:split
DROP TABLE settings_version;
