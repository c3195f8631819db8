-- Every trigger that sends for ectowatch, with the label it sends for (the
-- second argument in every layout), recognised by its function, never by its
-- name. Clones on partitions are left out: they follow the parent's trigger.
CREATE VIEW @extschema@.ectowatch_triggers AS
    SELECT t.oid AS trigger_oid, t.tgrelid::pg_catalog.regclass AS table_name, t.tgname AS trigger_name,
           pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), E'\\000', 2) AS label,
           t.tgfoid = '@extschema@.ectowatch_truncate_trigger()'::pg_catalog.regprocedure AS for_truncate,
           CASE WHEN t.tgtype::int & 1 = 1 THEN 'row' ELSE 'statement' END AS fires
      FROM pg_catalog.pg_trigger t
     WHERE t.tgfoid IN ('@extschema@.ectowatch_row_trigger()'::pg_catalog.regprocedure,
                        '@extschema@.ectowatch_truncate_trigger()'::pg_catalog.regprocedure)
       AND t.tgparentid = 0;
GRANT SELECT ON @extschema@.ectowatch_triggers TO PUBLIC;
COMMENT ON VIEW @extschema@.ectowatch_triggers IS
    'Internal: the triggers that send for ectowatch watchers, and the label each sends for';
