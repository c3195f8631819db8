--------------------------------------------------------------------------------
-- ectowatch_unwatch: remove a watcher. True if it existed.
--------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_unwatch(label text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing @extschema@.ectowatch_catalog;
--@if >= 0.5.0
    own record;
--@end
BEGIN
    IF label IS NULL THEN
        RAISE EXCEPTION 'ectowatch_unwatch: label must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'SELECT label FROM ectowatch_watchers lists the labels.';
    END IF;
--@if >= 0.5.0
    PERFORM @extschema@.ectowatch_lock_label(label);
--@end
--@if portable
    -- No event trigger removed the watchers of dropped tables: done here.
    PERFORM @extschema@.ectowatch_forget_dropped();
--@end
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = existing.table_name), 'USAGE') THEN
        RAISE EXCEPTION 'ectowatch_unwatch: must be owner of table %', existing.table_name
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask the table''s owner (or a superuser) to remove the watcher.';
    END IF;
--@if < 0.5.0
    -- The row goes first, so the drop below is not reported as an accident.
    DELETE FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'ectowatch_' || label, existing.table_name);
    IF existing.op = 'deleted' THEN
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'ectowatch_' || label || '_tr', existing.table_name);
    END IF;
--@else
    -- The row goes first, so the drops below are not reported as an accident.
    DELETE FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    -- Exactly this watcher's triggers, whatever their names.
    FOR own IN
        SELECT w.trigger_name FROM @extschema@.ectowatch_triggers w
         WHERE w.table_name = existing.table_name AND w.label = ectowatch_unwatch.label
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', own.trigger_name, existing.table_name);
    END LOOP;
--@end
    RETURN true;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_unwatch(text) IS 'Remove a watcher; true if it existed';
