-- The insert and update policies of ectowatch_catalog since 0.5.0 (the
-- update to 0.5.0 makes them again from this file).
CREATE POLICY ectowatch_catalog_insert ON @extschema@.ectowatch_catalog FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                         WHERE c.oid = ectowatch_catalog.table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                             WHERE w.table_name = ectowatch_catalog.table_name
                               AND w.label = ectowatch_catalog.label AND NOT w.for_truncate));
CREATE POLICY ectowatch_catalog_update ON @extschema@.ectowatch_catalog FOR UPDATE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                         WHERE c.oid = ectowatch_catalog.table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                             WHERE w.table_name = ectowatch_catalog.table_name
                               AND w.label = ectowatch_catalog.label AND NOT w.for_truncate));
