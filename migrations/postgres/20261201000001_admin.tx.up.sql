-- settings_version grows with every save of the live settings, so a
-- process can poll one row to notice a change it was not told about.
CREATE TABLE settings_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
--bun:split
INSERT INTO settings_version (id, version) VALUES (true, 0);
--bun:split
-- Dashboard: top refused keys and addresses of a recent window are
-- index-only scans of this index.
CREATE INDEX intercept_logs_created_at_key_ip ON intercept_logs (created_at, key_hash, client_ip, key_hint);
--bun:split
CREATE INDEX token_bindings_status_kind ON token_bindings (status, rule_kind);
--bun:split
CREATE INDEX token_bindings_last_used_at_key ON token_bindings (last_used_at DESC, key_hash);
