-- Creates or replaces the triggers of a watcher; returns the row trigger's
-- name. The one function that knows how a watcher's triggers look, so that a
-- version that changes them replaces only it.
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_attach_triggers(
    tbl regclass, op text, label text, delivery text, keys text[], extras text[], trigger_columns text[],
    condition text, replicated boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
--@if < 0.5.0
    trigger_name text := 'ectowatch_' || label;
--@else
    row_name text := @extschema@.ectowatch_trigger_name(label, false);
    truncate_name text := @extschema@.ectowatch_trigger_name(label, true);
    holder record;
    legacy text;
    stale record;
--@end
    when_parts text[] := '{}';
    when_clause text := '';
    trigger_args text;
    event text := CASE op WHEN 'inserted' THEN 'INSERT' WHEN 'updated' THEN 'UPDATE' ELSE 'DELETE' END;
    fires text := 'FOR EACH ROW';
BEGIN
--@include fragments/trigger_when_and_arguments.sql

    -- A DELETE watcher reads the deleted rows from the statement's transition
    -- table: to fire an AFTER ROW trigger PostgreSQL fetches every deleted row
    -- again, which made a 1M-row DELETE 1.7x slower with a trigger that does
    -- nothing, against 1.25x for the transition table (docs/performance.md).
    -- Only where a statement trigger sees every delete: no condition (it has
    -- no WHEN), not replicated (logical replication applies changes with row
    -- triggers only), and a plain table outside any inheritance tree (a DELETE
    -- through a parent fires its children's row triggers, not their statement
    -- triggers; partitions carry clones of row triggers only).
    -- ectowatch_guard_inheritance() switches back to a row trigger when such a
    -- table joins an inheritance tree later.
--@if native
    IF op = 'deleted' AND condition IS NULL AND NOT replicated
       AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relkind = 'r' AND NOT c.relispartition)
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = tbl OR i.inhparent = tbl) THEN
        fires := 'REFERENCING OLD TABLE AS ectowatch_deleted_rows FOR EACH STATEMENT';
    END IF;
--@else
    -- The portable edition packs a statement's rows into shared messages
    -- only when its trigger fires once per statement, so every watcher reads
    -- its statement's transition table where a statement trigger sees every
    -- change, as above (and without trigger_columns: a statement trigger has
    -- no WHEN either). Elsewhere it fires per row, one message a row.
    -- Without event triggers nothing switches a watcher to a row trigger when
    -- its table joins an inheritance tree later: ectowatch_watch() again does
    -- (README, "Managed PostgreSQL").
    IF condition IS NULL AND trigger_columns IS NULL AND NOT replicated
       AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relkind = 'r' AND NOT c.relispartition)
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = tbl OR i.inhparent = tbl) THEN
        fires := CASE WHEN op = 'deleted'
                      THEN 'REFERENCING OLD TABLE AS ectowatch_deleted_rows FOR EACH STATEMENT'
                      ELSE 'REFERENCING NEW TABLE AS ectowatch_new_rows FOR EACH STATEMENT' END;
    END IF;
--@end

--@if < 0.5.0
--@include fragments/make_triggers_before_0.5.0.sql
    RETURN trigger_name;
--@else
    -- CREATE OR REPLACE TRIGGER replaces any trigger of that name: only this
    -- watcher's own may be. The one other holder ectowatch itself made is the
    -- TRUNCATE trigger of label L from before 0.5.0, named ectowatch_L_tr, the
    -- row trigger's name of label L_tr: it moves to its new name and keeps
    -- working. Anything else is refused.
    FOR holder IN
        SELECT t.tgname, w.label AS sends_for, w.for_truncate
          FROM pg_trigger t
          LEFT JOIN @extschema@.ectowatch_triggers w ON w.trigger_oid = t.oid
         WHERE t.tgrelid = tbl AND t.tgname IN (row_name, truncate_name)
    LOOP
        IF holder.sends_for = label AND holder.for_truncate = (holder.tgname = truncate_name) THEN
            CONTINUE;
        ELSIF holder.for_truncate AND holder.tgname = row_name THEN
            EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I', holder.tgname, tbl,
                           @extschema@.ectowatch_trigger_name(holder.sends_for, true));
        ELSE
            RAISE EXCEPTION 'ectowatch_watch: % already has a trigger named % that is not the trigger of watcher %',
                  tbl, quote_ident(holder.tgname), quote_literal(label)
                USING ERRCODE = 'duplicate_object',
                      HINT = 'Rename or drop that trigger, or choose another label.';
        END IF;
    END LOOP;

    -- CREATE OR REPLACE: a replaced watcher never has a moment without trigger.
    BEGIN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s %s EXECUTE FUNCTION @extschema@.ectowatch_row_trigger(%s)',
                       row_name, event, tbl, fires, when_clause, trigger_args);
--@include fragments/condition_rejected.sql
    EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, row_name);
    IF op = 'deleted' THEN
        -- A TRUNCATE trigger of an older name is renamed, not dropped and made
        -- again: there is no moment without it.
        SELECT w.trigger_name INTO legacy
          FROM @extschema@.ectowatch_triggers w
         WHERE w.table_name = tbl AND w.label = ectowatch_attach_triggers.label AND w.for_truncate
           AND w.trigger_name <> truncate_name
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = truncate_name)
         LIMIT 1;
        IF legacy IS NOT NULL THEN
            EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I', legacy, tbl, truncate_name);
        END IF;
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ectowatch_truncate_trigger(%s)',
                       truncate_name, tbl, trigger_args);
        EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, truncate_name);
    END IF;
    -- Any other trigger still sending for this label here would send twice.
    FOR stale IN
        SELECT w.trigger_name
          FROM @extschema@.ectowatch_triggers w
         WHERE w.table_name = tbl AND w.label = ectowatch_attach_triggers.label
           AND w.trigger_name <> row_name AND (op <> 'deleted' OR w.trigger_name <> truncate_name)
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', stale.trigger_name, tbl);
    END LOOP;
    RETURN row_name;
--@end
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_attach_triggers(regclass, text, text, text, text[], text[], text[], text, boolean) IS
    'Internal: the triggers of a watcher, made by ectowatch_watch (which checks its arguments first)';
