-- Bindings moved out of token_bindings after ARCHIVE_DAYS without use; a
-- key may be archived several times, so rows have their own id.
CREATE TABLE token_bindings_archive (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash     BLOB NOT NULL CHECK (length(key_hash) = 32),
    key_hint     TEXT NOT NULL,
    rule_kind    TEXT NOT NULL,
    allowed      TEXT NOT NULL DEFAULT '',
    learn_limit  INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    first_ip     TEXT NOT NULL,
    last_ip      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    archived_at  INTEGER NOT NULL
);
--bun:split
CREATE INDEX token_bindings_archive_archived_at ON token_bindings_archive (archived_at DESC, id DESC);
--bun:split
CREATE INDEX token_bindings_archive_key_hash ON token_bindings_archive (key_hash);
