-- The one place where a watcher's trigger names are made. The row trigger is
-- ectowatch_<label>; the TRUNCATE trigger of a deleted watcher,
-- ectowatch_<label>_tr before 0.5.0, is ectowatch_<label>:tr: labels hold
-- only letters, digits and "_", so the ":" keeps the two kinds apart and no
-- two triggers of any two labels share a name. Labels have at most 48 bytes,
-- so names have at most 61, under PostgreSQL's 63: none is cut short into
-- another.
CREATE FUNCTION @extschema@.ectowatch_trigger_name(label text, for_truncate boolean) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'ectowatch_' || label || CASE WHEN for_truncate THEN ':tr' ELSE '' END $$;
COMMENT ON FUNCTION @extschema@.ectowatch_trigger_name(text, boolean) IS
    'Internal: the name of a watcher''s row trigger, or of its TRUNCATE trigger';
