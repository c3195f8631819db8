-- Renaming or dropping a column a watcher relies on is refused: its messages
-- would silently change shape. Unwatch first, then watch again.
-- (event trigger: sql/event_triggers/ectowatch_guard_columns.sql)
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_guard_columns() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    broken record;
BEGIN
    SELECT c.label, c.table_name, u.col INTO broken
      FROM @extschema@.ectowatch_catalog c
     CROSS JOIN LATERAL unnest(c.used_columns) AS u(col)
     WHERE c.table_name::oid IN (SELECT objid FROM pg_event_trigger_ddl_commands()
                                  WHERE classid = 'pg_class'::regclass)
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.table_name AND a.attname = u.col
                          AND a.attnum > 0 AND NOT a.attisdropped)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column "%" of % is used by ectowatch watcher %', broken.col, broken.table_name, broken.label
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('Run SELECT ectowatch_unwatch(%L) first, change the table, then watch it again.', broken.label);
    END IF;
END;
$$;
