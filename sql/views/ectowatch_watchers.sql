-- The watchers, as users read them. "fires" (0.4.0): 'row', or 'statement'
-- for a DELETE watcher that reads its statement's transition table, read
-- from the watcher's own row trigger.
--@if < 0.2.0
CREATE VIEW @extschema@.ectowatch_watchers AS
    SELECT label, table_name, op, label AS channel, key_columns, extra_columns,
           trigger_columns, condition, replicated
      FROM @extschema@.ectowatch_catalog;
--@else
--@if < 0.4.0
CREATE OR REPLACE VIEW @extschema@.ectowatch_watchers AS
    SELECT label, table_name, op, label AS channel, key_columns, extra_columns,
           trigger_columns, condition, replicated, delivery
      FROM @extschema@.ectowatch_catalog;
--@else
CREATE OR REPLACE VIEW @extschema@.ectowatch_watchers AS
    SELECT c.label, c.table_name, c.op, c.label AS channel, c.key_columns, c.extra_columns,
           c.trigger_columns, c.condition, c.replicated, c.delivery,
--@if < 0.5.0
           (SELECT CASE WHEN t.tgtype::int & 1 = 1 THEN 'row' ELSE 'statement' END
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label) AS fires
--@else
           (SELECT w.fires FROM @extschema@.ectowatch_triggers w
             WHERE w.table_name = c.table_name AND w.label = c.label AND NOT w.for_truncate
             LIMIT 1) AS fires
--@end
--@if native
      FROM @extschema@.ectowatch_catalog c;
--@else
      FROM @extschema@.ectowatch_catalog c
     -- Without event triggers a dropped table's watchers stay in the catalog
     -- until the next ectowatch_watch or ectowatch_unwatch: not shown.
     WHERE EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                    WHERE w.table_name = c.table_name AND w.label = c.label AND NOT w.for_truncate);
--@end
--@end
--@end
GRANT SELECT ON @extschema@.ectowatch_watchers TO PUBLIC;
COMMENT ON VIEW @extschema@.ectowatch_watchers IS
    'ectowatch watchers: LISTEN on "channel" (always the label) to receive their messages';
