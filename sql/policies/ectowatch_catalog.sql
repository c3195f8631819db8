-- Who may change which rows of ectowatch_catalog (see the table). A row
-- needs its watcher's own row trigger (not merely one of that name, since 0.5.0).
CREATE POLICY ectowatch_catalog_read ON @extschema@.ectowatch_catalog FOR SELECT USING (true);
--@if < 0.5.0
CREATE POLICY ectowatch_catalog_insert ON @extschema@.ectowatch_catalog FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = table_name AND t.tgname = 'ectowatch_' || label));
CREATE POLICY ectowatch_catalog_update ON @extschema@.ectowatch_catalog FOR UPDATE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = table_name AND t.tgname = 'ectowatch_' || label));
--@else
--@include policies/ectowatch_catalog_writes.sql
--@end
CREATE POLICY ectowatch_catalog_delete ON @extschema@.ectowatch_catalog FOR DELETE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE'));
