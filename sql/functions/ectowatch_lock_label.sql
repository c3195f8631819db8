-- Serializes the watch and unwatch calls of one label until the end of the
-- transaction, so the later one sees what the earlier one committed.
-- Advisory locks live in one space with the application's: the key is a
-- 64-bit hash of 'ectowatch label <label>', and a chance collision only makes
-- a call wait.
CREATE FUNCTION @extschema@.ectowatch_lock_label(label text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(hashtextextended('ectowatch label ' || label, 0)) $$;
COMMENT ON FUNCTION @extschema@.ectowatch_lock_label(text) IS
    'Internal: ectowatch_watch and ectowatch_unwatch of one label wait for each other';
