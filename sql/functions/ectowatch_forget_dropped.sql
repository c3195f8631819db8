-- A dropped table (or a trigger dropped by hand) takes its watchers along
-- (event trigger: sql/event_triggers/ectowatch_forget_dropped.sql).
-- SECURITY DEFINER: the table is gone, so the row-level policies could no
-- longer recognise its owner; the function only deletes rows whose trigger no
-- longer exists.
-- Since 0.5.0 a watcher is forgotten once its own row trigger is gone. A
-- trigger of its name that is not its own (a collision of the names before
-- 0.5.0, see sql/upgrades/0.4.0--0.5.0.sql) keeps its row, so the statement
-- that repairs it still finds what to pass.
--@if native
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_forget_dropped() RETURNS event_trigger
--@else
-- The portable edition cannot have event triggers (they need a superuser):
-- ectowatch_watch and ectowatch_unwatch call this first instead, and the
-- view ectowatch_watchers leaves out the rows it has not removed yet.
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_forget_dropped() RETURNS void
--@end
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone text[];
BEGIN
    WITH removed AS (
        DELETE FROM @extschema@.ectowatch_catalog c
--@if < 0.5.0
         WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t
                            WHERE t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label)
--@else
         WHERE NOT EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                            WHERE w.table_name = c.table_name AND w.label = c.label AND NOT w.for_truncate)
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                            WHERE t.tgrelid = c.table_name
                              AND t.tgname = @extschema@.ectowatch_trigger_name(c.label, false))
--@end
        RETURNING c.label)
    SELECT array_agg(label ORDER BY label) INTO gone FROM removed;
    IF gone IS NOT NULL THEN
        RAISE NOTICE 'ectowatch: removed watcher(s) % because their table or trigger was dropped',
            array_to_string(gone, ', ');
    END IF;
END;
$$;
