-- settings_version grows with every save of the live settings, so a second
-- process on the same file notices a change by polling one row.
INSERT INTO sentinel_seq (name, value) VALUES ('settings_version', 0);
--bun:split
-- Dashboard: top refused keys and addresses of a recent window read only
-- this index.
CREATE INDEX intercept_logs_created_at_key_ip ON intercept_logs (created_at, key_hash, client_ip);
--bun:split
CREATE INDEX token_bindings_status_kind ON token_bindings (status, rule_kind);
