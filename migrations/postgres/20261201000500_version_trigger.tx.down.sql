DROP TRIGGER token_bindings_version_update ON token_bindings;
--bun:split
DROP TRIGGER token_bindings_version_insert ON token_bindings;
--bun:split
DROP FUNCTION token_bindings_assign_version();
