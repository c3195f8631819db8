--------------------------------------------------------------------------------
-- Checks of the arguments of ectowatch_watch, one per kind of mistake.
--------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.ectowatch_check_columns(tbl regclass, argument text, columns text[])
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col text;
BEGIN
    IF columns IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(columns) = 0 THEN
        RAISE EXCEPTION 'ectowatch_watch: % is empty', argument
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Leave %s out (or pass NULL) instead of an empty array.', argument);
    END IF;
    IF array_ndims(columns) > 1 THEN
        RAISE EXCEPTION 'ectowatch_watch: % must be a one-dimensional array of column names', argument
            USING ERRCODE = 'invalid_parameter_value', HINT = format('For example: %s => ARRAY[''id'']', argument);
    END IF;
    FOREACH col IN ARRAY columns LOOP
        IF col IS NULL THEN
            RAISE EXCEPTION 'ectowatch_watch: % contains NULL', argument
                USING ERRCODE = 'null_value_not_allowed', HINT = 'List column names only.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_attribute
                        WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'ectowatch_watch: column "%" of % does not exist (in %)', col, tbl, argument
                USING ERRCODE = 'undefined_column',
                      HINT = 'Column names are case-sensitive and written without quotes, exactly as in the table.';
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT c) FROM unnest(columns) c) <> cardinality(columns) THEN
        RAISE EXCEPTION 'ectowatch_watch: % lists a column twice', argument
            USING ERRCODE = 'duplicate_column', HINT = 'List each column once.';
    END IF;
END;
$$;
