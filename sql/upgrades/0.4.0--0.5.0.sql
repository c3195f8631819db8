-- ectowatch 0.4.0 -> 0.5.0: no silent loss (issue 14).
-- Triggers of earlier layouts keep working unchanged; watchers made or watched
-- again from 0.5.0 on get trigger-argument layout '3' (two arguments, see
-- sql/fragments/trigger_when_and_arguments.sql).

-- == Watch API: collision-free trigger names, one owner per label, reserved channels
--
-- Trigger names. A watcher's row trigger is still named ectowatch_<label>; the
-- TRUNCATE trigger of a deleted watcher, ectowatch_<label>_tr before 0.5.0, is
-- now ectowatch_<label>:tr. The old suffix made the TRUNCATE trigger of label L
-- the row trigger of label L_tr: on one table, whichever came second replaced
-- the other, and unwatching L dropped L_tr's trigger. Labels hold only letters,
-- digits and "_", so the ":" keeps the two kinds apart and no two triggers of
-- any two labels share a name. Labels have at most 48 bytes, so names have at
-- most 61, under PostgreSQL's 63: none is cut short into another.
-- Names are made in one place (ectowatch_trigger_name). The functions below
-- find a watcher's triggers by what they are (the view ectowatch_triggers: an
-- ectowatch trigger function whose label argument is the label), not by name,
-- so ectowatch_unwatch drops exactly its watcher's triggers. The one exception
-- is ectowatch_forget_dropped, which also spares a row whose row trigger's
-- name is still taken (see "Existing watchers" below).
--
-- One owner per label. ectowatch_watch and ectowatch_unwatch take a
-- transaction-level advisory lock on the label before they read the catalog,
-- so calls for one label run one after the other and the later one sees what
-- the earlier one committed. A new label's row is INSERTed, not upserted, so a
-- caller whose snapshot predates the winner's commit (REPEATABLE READ) fails
-- too instead of taking the label a second time.
--
-- Reserved labels. ectowatch's own channels begin with ectowatch_ and never
-- end in _inserted, _updated or _deleted (today only ectowatch_resync, on which
-- every client listens for "your messages may be lost"). New watchers may not
-- take such a label, in any letter case since an unquoted LISTEN folds to lower
-- case (SQLSTATE 42939 reserved_name). The suffixes stay free so that the
-- default label <table>_<op> of a table named ectowatch_... keeps working.
--
-- Existing watchers: the update changes none of them and takes no lock on
-- user tables.
-- - TRUNCATE triggers keep their old name, and keep working, until
--   ectowatch_watch runs again for their label; it renames them.
-- - A watcher on a reserved label keeps sending and may still be refreshed by
--   ectowatch_watch, but cannot be made again once unwatched. The update WARNs
--   about each (for ectowatch_resync: every client resyncs on its messages).
-- - A watcher that an old name collision already broke (its trigger was
--   replaced by another label's trigger of the same name) stays broken until
--   ectowatch_watch runs again for it; the update WARNs about each with that
--   statement. ectowatch_forget_dropped keeps its catalog row meanwhile.

--@include functions/ectowatch_label_reserved.sql
--@include functions/ectowatch_trigger_name.sql
--@include views/ectowatch_triggers.sql
--@include functions/ectowatch_lock_label.sql
--@include views/ectowatch_watchers.sql

-- A catalog row needs its watcher's own row trigger (not merely one of that name).
DROP POLICY ectowatch_catalog_insert ON @extschema@.ectowatch_catalog;
DROP POLICY ectowatch_catalog_update ON @extschema@.ectowatch_catalog;
--@include policies/ectowatch_catalog_writes.sql

--@include functions/ectowatch_attach_triggers.sql
--@include functions/ectowatch_watch.sql
--@include functions/ectowatch_unwatch.sql
--@include functions/ectowatch_forget_dropped.sql
--@include functions/ectowatch_guard_inheritance.sql

-- Existing watchers that need their owner's attention (see the top of this
-- section): nothing is changed, each gets a WARNING that says what to do.
DO $$
DECLARE
    w record;
BEGIN
    FOR w IN
        SELECT c.label, c.table_name FROM @extschema@.ectowatch_catalog c
         WHERE @extschema@.ectowatch_label_reserved(c.label) ORDER BY c.label
    LOOP
        RAISE WARNING 'ectowatch: watcher % of % uses a label that is reserved since 0.5.0', quote_literal(w.label), w.table_name
            USING DETAIL = CASE WHEN lower(w.label) = 'ectowatch_resync'
                                THEN 'Its messages go to the channel on which ectowatch tells every client to resync: '
                                     'every client resyncs on each of them. It keeps working until it is unwatched.'
                                ELSE 'Labels that begin with "ectowatch_" and do not end in "_inserted", "_updated" '
                                     'or "_deleted" are ectowatch''s own channels. '
                                     'It keeps working until it is unwatched, but cannot be made again.' END,
                  HINT = format('Move it to another label: SELECT ectowatch_watch(table_name, op, ''new_label'', '
                                'trigger_columns, extra_columns, key_columns, condition, replicated, delivery) '
                                'FROM ectowatch_watchers WHERE label = %L; then SELECT ectowatch_unwatch(%L);',
                                w.label, w.label);
    END LOOP;
    FOR w IN
        SELECT c.label, c.table_name, c.op,
               NOT EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers t
                            WHERE t.table_name = c.table_name AND t.label = c.label AND NOT t.for_truncate) AS no_row_trigger
          FROM @extschema@.ectowatch_catalog c
         WHERE NOT EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers t
                            WHERE t.table_name = c.table_name AND t.label = c.label AND NOT t.for_truncate)
            OR (c.op = 'deleted'
                AND NOT EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers t
                                 WHERE t.table_name = c.table_name AND t.label = c.label AND t.for_truncate))
         ORDER BY c.label
    LOOP
        RAISE WARNING 'ectowatch: watcher % of % has no % trigger: it sends no % message',
              quote_literal(w.label), w.table_name, CASE WHEN w.no_row_trigger THEN 'row' ELSE 'TRUNCATE' END,
              CASE WHEN w.no_row_trigger THEN 'row' ELSE 'truncated' END
            USING DETAIL = 'Before 0.5.0, its trigger and the trigger of another label on the same table could have '
                           'the same name, and the later one replaced the earlier.',
                  HINT = format('Make its triggers again: SELECT ectowatch_watch(table_name, op, label, trigger_columns, '
                                'extra_columns, key_columns, condition, replicated, delivery) '
                                'FROM ectowatch_watchers WHERE label = %L;', w.label);
    END LOOP;
END;
$$;

-- == Relay: every listed database served or refused, no relayed row before the slot; encoding
-- ectowatch_relay_unavailable() also says why a listed database is not served
-- (no worker slot, cannot connect, cannot create its slot) and that its slot
-- does not exist yet (waiting up to 5 s for a starting worker): a relay
-- watcher is refused then, instead of losing the rows committed before the
-- slot existed. The hint no longer assumes the database is unlisted.
--
-- Encoding (case 5) is checked there too (sql/functions/ectowatch_check_delivery.sql).
--@include functions/ectowatch_check_delivery.sql

-- The status view says whether each listed database is served and why not:
-- new columns state ('running', 'starting', 'not served') and reason.
-- ectowatch_relay_workers() returns two more columns, so it and the view
-- built on it are created again (a user view on ectowatch_relay_status would
-- block this update: drop it first).
DROP VIEW @extschema@.ectowatch_relay_status;
DROP FUNCTION @extschema@.ectowatch_relay_workers();
--@include functions/ectowatch_relay_workers.sql
--@include views/ectowatch_relay_status.sql
