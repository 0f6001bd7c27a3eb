-- Bindings moved out of token_bindings after ARCHIVE_DAYS without use. A
-- key may be archived several times (it binds afresh on its next use and
-- may go idle again), so rows have their own id: history is kept.
CREATE TABLE token_bindings_archive (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash     bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    key_hint     text NOT NULL DEFAULT '',
    rule_kind    text NOT NULL,
    allowed      cidr[] NOT NULL DEFAULT '{}',
    learn_limit  integer NOT NULL DEFAULT 0,
    status       text NOT NULL,
    first_ip     inet,
    last_ip      inet,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    version      bigint NOT NULL,
    archived_at  timestamptz NOT NULL
);
--bun:split
-- Listing order (newest archived first) and lookups by key.
CREATE INDEX token_bindings_archive_archived_at ON token_bindings_archive (archived_at DESC, id DESC);
--bun:split
CREATE INDEX token_bindings_archive_key_hash ON token_bindings_archive (key_hash);
