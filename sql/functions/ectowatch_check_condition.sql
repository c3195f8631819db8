-- Native (extension/condition_check.cpp).
CREATE FUNCTION @extschema@.ectowatch_check_condition(condition text) RETURNS void
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ectowatch_check_condition';
COMMENT ON FUNCTION @extschema@.ectowatch_check_condition(text) IS
    'Raises an error unless the text is exactly one SQL expression (used by ectowatch_watch)';
