DROP INDEX token_bindings_status_kind;
--bun:split
DROP INDEX intercept_logs_created_at_key_ip;
--bun:split
DELETE FROM sentinel_seq WHERE name = 'settings_version';
