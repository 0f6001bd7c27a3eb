-- Versions of decision-relevant binding changes only grow, across all keys
-- and deletions, so caches can order what they see. A sequence never hands
-- out a number twice, even to transactions that roll back.
CREATE SEQUENCE binding_version_seq AS bigint;
--bun:split
-- allowed is the rule's prefix list in rule order (the order is part of the
-- rule); token_binding_nets mirrors it one prefix per row for indexed
-- subnet lookups. first_ip/last_ip are NULL when unknown.
CREATE TABLE token_bindings (
    key_hash     bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    key_hint     text NOT NULL DEFAULT '',
    rule_kind    text NOT NULL CHECK (rule_kind IN ('single', 'multiple', 'all', 'learn')),
    allowed      cidr[] NOT NULL DEFAULT '{}' CHECK (array_position(allowed, NULL) IS NULL),
    learn_limit  integer NOT NULL DEFAULT 0 CHECK (learn_limit BETWEEN 0 AND 256),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned')),
    first_ip     inet,
    last_ip      inet,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    version      bigint NOT NULL,
    -- The learn limit is enforced by the single UPDATE that learns; this
    -- makes the database refuse anything that would get past it anyway.
    CONSTRAINT token_bindings_learn_limit CHECK (rule_kind <> 'learn' OR cardinality(allowed) <= learn_limit)
);
--bun:split
-- Serves the listing order (newest first, key_hash breaking ties).
CREATE INDEX token_bindings_created_at ON token_bindings (created_at DESC, key_hash);
--bun:split
-- For finding idle bindings.
CREATE INDEX token_bindings_last_used_at ON token_bindings (last_used_at);
--bun:split
CREATE INDEX token_bindings_first_ip ON token_bindings USING gist (first_ip inet_ops);
--bun:split
CREATE INDEX token_bindings_last_ip ON token_bindings USING gist (last_ip inet_ops);
--bun:split
-- One row per allowed prefix, kept equal to token_bindings.allowed by a
-- trigger: GiST cannot index the elements of a cidr[] column, and "which
-- bindings concern this subnet" must not scan every binding.
CREATE TABLE token_binding_nets (
    key_hash bytea NOT NULL REFERENCES token_bindings (key_hash) ON DELETE CASCADE,
    net      cidr NOT NULL,
    PRIMARY KEY (key_hash, net)
);
--bun:split
CREATE INDEX token_binding_nets_net ON token_binding_nets USING gist (net inet_ops);
--bun:split
-- search_path is pinned to the schema the migration ran in, so the trigger
-- finds its table whatever search_path the writing session has.
CREATE FUNCTION token_bindings_sync_nets() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM token_binding_nets
        WHERE key_hash = NEW.key_hash AND NOT (net = ANY (NEW.allowed));
    END IF;
    INSERT INTO token_binding_nets (key_hash, net)
    SELECT NEW.key_hash, n FROM unnest(NEW.allowed) AS n
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
--bun:split
CREATE TRIGGER token_bindings_nets_insert AFTER INSERT ON token_bindings
FOR EACH ROW EXECUTE FUNCTION token_bindings_sync_nets();
--bun:split
CREATE TRIGGER token_bindings_nets_update AFTER UPDATE OF allowed ON token_bindings
FOR EACH ROW WHEN (OLD.allowed IS DISTINCT FROM NEW.allowed) EXECUTE FUNCTION token_bindings_sync_nets();
--bun:split
-- Every process's in-memory cache listens on this channel. PostgreSQL sends
-- notifications at commit, and only for committed transactions. Creation
-- needs none (no cache holds a key that has no binding) and neither do
-- last-use touches, which leave the version alone.
CREATE FUNCTION token_bindings_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sentinel_bindings', encode(OLD.key_hash, 'hex'));
    RETURN NULL;
END
$$;
--bun:split
CREATE TRIGGER token_bindings_changed AFTER UPDATE ON token_bindings
FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION token_bindings_notify();
--bun:split
CREATE TRIGGER token_bindings_deleted AFTER DELETE ON token_bindings
FOR EACH ROW EXECUTE FUNCTION token_bindings_notify();
--bun:split
CREATE TABLE intercept_logs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash   bytea NOT NULL,
    key_hint   text NOT NULL DEFAULT '',
    client_ip  inet,
    reason     text NOT NULL,
    enforced   boolean NOT NULL,
    method     text NOT NULL DEFAULT '',
    path       text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
--bun:split
-- Newest-first paging. Its leading created_at also serves the retention
-- delete (created_at < t), which is why there is no BRIN index on
-- created_at: it would cost every insert and no plan would prefer it. When
-- retention deletes become too heavy, partition by time and drop
-- partitions instead.
CREATE INDEX intercept_logs_created_at_id ON intercept_logs (created_at DESC, id DESC);
--bun:split
CREATE INDEX intercept_logs_key_created_at ON intercept_logs (key_hash, created_at DESC);
--bun:split
CREATE INDEX intercept_logs_client_ip ON intercept_logs USING gist (client_ip inet_ops);
--bun:split
CREATE TABLE admin_audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}',
    client_ip  inet,
    created_at timestamptz NOT NULL DEFAULT now()
);
--bun:split
CREATE INDEX admin_audit_created_at ON admin_audit (created_at);
--bun:split
CREATE TABLE settings (
    name       text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
