-- The database assigns version, not the writer: any change of what a
-- decision reads (rule, prefixes, learn limit, status), made by Sentinel,
-- another tool or plain SQL, draws a new version, and so fires the
-- sentinel_bindings notification every cache follows. A writer that sets a
-- version itself gets a fresh one instead (versions only grow). Last-use
-- touches change none of these columns and keep their version.
CREATE FUNCTION token_bindings_assign_version() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.version IS DISTINCT FROM OLD.version
       OR (NEW.rule_kind, NEW.allowed, NEW.learn_limit, NEW.status)
          IS DISTINCT FROM (OLD.rule_kind, OLD.allowed, OLD.learn_limit, OLD.status) THEN
        NEW.version := nextval('binding_version_seq');
    END IF;
    RETURN NEW;
END
$$;
--bun:split
CREATE TRIGGER token_bindings_version_insert BEFORE INSERT ON token_bindings
FOR EACH ROW EXECUTE FUNCTION token_bindings_assign_version();
--bun:split
CREATE TRIGGER token_bindings_version_update BEFORE UPDATE ON token_bindings
FOR EACH ROW EXECUTE FUNCTION token_bindings_assign_version();
