-- The database assigns a version when a writer did not: an update of what a
-- decision reads (rule, prefixes, learn limit, status) that leaves version
-- alone (plain SQL, another tool) draws the next one, which appends to
-- binding_changes through token_bindings_changed, so every process's cache
-- hears of it. Sentinel's own writers draw a version themselves and are
-- left alone.
CREATE TRIGGER token_bindings_assign_version
AFTER UPDATE OF rule_kind, allowed, learn_limit, status ON token_bindings
WHEN NEW.version = OLD.version
BEGIN
    UPDATE sentinel_seq SET value = value + 1 WHERE name = 'binding_version';
    UPDATE token_bindings SET version = (SELECT value FROM sentinel_seq WHERE name = 'binding_version')
    WHERE key_hash = NEW.key_hash;
END;
