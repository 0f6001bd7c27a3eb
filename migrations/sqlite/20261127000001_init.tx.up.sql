-- Versions of decision-relevant binding changes only grow, across all keys
-- and deletions, so caches can order what they see.
CREATE TABLE sentinel_seq (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
--bun:split
INSERT INTO sentinel_seq (name, value) VALUES ('binding_version', 0);
--bun:split
-- Times are Unix microseconds (UTC). Addresses are text; allowed prefixes a
-- comma-separated canonical list.
CREATE TABLE token_bindings (
    key_hash     BLOB PRIMARY KEY CHECK (length(key_hash) = 32),
    key_hint     TEXT NOT NULL,
    rule_kind    TEXT NOT NULL CHECK (rule_kind IN ('single', 'multiple', 'all', 'learn')),
    allowed      TEXT NOT NULL DEFAULT '',
    learn_limit  INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned')),
    first_ip     TEXT NOT NULL,
    last_ip      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    version      INTEGER NOT NULL
) WITHOUT ROWID;
--bun:split
CREATE INDEX token_bindings_created_at ON token_bindings (created_at DESC);
--bun:split
CREATE INDEX token_bindings_last_used_at ON token_bindings (last_used_at);
--bun:split
-- binding_changes feeds the in-process caches of every process sharing the
-- file: each decision-relevant update or deletion appends the key.
CREATE TABLE binding_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash BLOB NOT NULL,
    at       INTEGER NOT NULL
);
--bun:split
CREATE TRIGGER token_bindings_changed AFTER UPDATE OF version ON token_bindings
BEGIN
    INSERT INTO binding_changes (key_hash, at)
    VALUES (NEW.key_hash, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
--bun:split
CREATE TRIGGER token_bindings_deleted AFTER DELETE ON token_bindings
BEGIN
    INSERT INTO binding_changes (key_hash, at)
    VALUES (OLD.key_hash, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
--bun:split
-- client_ip_bin is the 16-byte form (IPv4 as ::ffff:a.b.c.d) so that "which
-- intercepts came from this subnet" is an index range scan.
CREATE TABLE intercept_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash      BLOB NOT NULL,
    key_hint      TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    client_ip_bin BLOB NOT NULL,
    reason        TEXT NOT NULL,
    enforced      INTEGER NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
--bun:split
CREATE INDEX intercept_logs_created_at ON intercept_logs (created_at);
--bun:split
CREATE INDEX intercept_logs_key_created_at ON intercept_logs (key_hash, created_at);
--bun:split
CREATE INDEX intercept_logs_client_ip ON intercept_logs (client_ip_bin, created_at);
--bun:split
CREATE TABLE admin_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    client_ip  TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
--bun:split
CREATE INDEX admin_audit_created_at ON admin_audit (created_at);
--bun:split
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
