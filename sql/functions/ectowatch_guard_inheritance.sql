-- A table whose DELETE watcher reads transition tables (see
-- ectowatch_attach_triggers) that joins an inheritance tree (CREATE TABLE ...
-- INHERITS, ALTER TABLE ... INHERIT or ATTACH PARTITION) would miss deletes
-- made through its parent: its watchers are made again, which gives them row
-- triggers (event trigger: sql/event_triggers/ectowatch_guard_inheritance.sql).
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_guard_inheritance() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
BEGIN
    FOR w IN
        SELECT c.*
          FROM @extschema@.ectowatch_catalog c
--@if < 0.5.0
          JOIN pg_trigger t ON t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label
         WHERE t.tgtype & 1 = 0 -- TRIGGER_TYPE_ROW unset: a statement trigger
--@else
          JOIN @extschema@.ectowatch_triggers t
            ON t.table_name = c.table_name AND t.label = c.label AND NOT t.for_truncate
         WHERE t.fires = 'statement'
--@end
           AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.table_name OR i.inhparent = c.table_name)
    LOOP
        PERFORM @extschema@.ectowatch_watch(w.table_name, w.op, w.label, w.trigger_columns, w.extra_columns,
                                            w.key_columns, w.condition, w.replicated, w.delivery);
        RAISE NOTICE 'ectowatch: watcher % of % now fires per row (its table is part of an inheritance tree)',
            w.label, w.table_name;
    END LOOP;
END;
$$;
