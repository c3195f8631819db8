-- ectowatch 0.3.0 -> 0.4.0: a DELETE watcher reads its statement's transition table
-- instead of firing once per row, where that sees every delete.
--
-- The triggers of a watcher are made by one function, ectowatch_attach_triggers(),
-- so that a later version that changes how triggers look replaces only it
-- (PostgreSQL needs a function's whole body to change it; ectowatch_watch's
-- body is repeated here one last time).
--
-- Existing DELETE watchers keep their row trigger, which stays correct, until
-- ectowatch_watch() runs for them again (the upgrade takes no lock on user
-- tables); ectowatch_watchers.fires shows which, and README.md gives the
-- statement that converts them all.

-- How each watcher fires: 'row' or 'statement' (a DELETE watcher over its
-- transition table), read from its trigger.
CREATE OR REPLACE VIEW @extschema@.ectowatch_watchers AS
    SELECT c.label, c.table_name, c.op, c.label AS channel, c.key_columns, c.extra_columns,
           c.trigger_columns, c.condition, c.replicated, c.delivery,
           (SELECT CASE WHEN t.tgtype::int & 1 = 1 THEN 'row' ELSE 'statement' END
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label) AS fires
      FROM @extschema@.ectowatch_catalog c;

-- Creates or replaces the triggers of a watcher; returns the trigger's name.
CREATE FUNCTION @extschema@.ectowatch_attach_triggers(
    tbl regclass, op text, label text, delivery text, keys text[], extras text[], trigger_columns text[],
    condition text, replicated boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trigger_name text := 'ectowatch_' || label;
    when_parts text[] := '{}';
    when_clause text := '';
    trigger_args text;
    event text := CASE op WHEN 'inserted' THEN 'INSERT' WHEN 'updated' THEN 'UPDATE' ELSE 'DELETE' END;
    fires text := 'FOR EACH ROW';
BEGIN
    -- The WHEN clause: evaluated by PostgreSQL before the trigger function runs.
    IF trigger_columns IS NOT NULL THEN
        when_parts := when_parts || (SELECT '(' || string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ') || ')'
                                       FROM unnest(trigger_columns) c);
    END IF;
    IF condition IS NOT NULL THEN
        PERFORM @extschema@.ectowatch_check_condition(condition);
        when_parts := when_parts || ('(' || condition || E'\n)');
    END IF;
    IF cardinality(when_parts) > 0 THEN
        when_clause := 'WHEN (' || array_to_string(when_parts, ' AND ') || ')';
    END IF;

    -- Trigger arguments, layout 2 (extension/watcher_plan.hpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['2', label, delivery, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
           WITH ORDINALITY AS x(a, o);

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
    IF op = 'deleted' AND condition IS NULL AND NOT replicated
       AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relkind = 'r' AND NOT c.relispartition)
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = tbl OR i.inhparent = tbl) THEN
        fires := 'REFERENCING OLD TABLE AS ectowatch_deleted_rows FOR EACH STATEMENT';
    END IF;

    -- CREATE OR REPLACE: a replaced watcher never has a moment without trigger.
    BEGIN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s %s EXECUTE FUNCTION @extschema@.ectowatch_row_trigger(%s)',
                       trigger_name, event, tbl, fires, when_clause, trigger_args);
    EXCEPTION WHEN syntax_error_or_access_rule_violation OR feature_not_supported OR datatype_mismatch THEN
        -- Only the condition can make a well-formed CREATE TRIGGER fail this way.
        IF condition IS NULL THEN
            RAISE;
        END IF;
        DECLARE
            state text;
            message text;
        BEGIN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            RAISE EXCEPTION 'ectowatch_watch: condition rejected: %', message
                USING ERRCODE = state,
                      HINT = 'The condition is a boolean expression over OLD and NEW (OLD only in updated and '
                             'deleted watchers, NEW only in inserted and updated ones), without subqueries; '
                             'names are resolved with search_path = pg_catalog, so qualify your own functions.';
        END;
    END;
    EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, trigger_name);
    IF op = 'deleted' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ectowatch_truncate_trigger(%s)',
                       trigger_name || '_tr', tbl, trigger_args);
        EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, trigger_name || '_tr');
    END IF;
    RETURN trigger_name;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_attach_triggers(regclass, text, text, text, text[], text[], text[], text, boolean) IS
    'Internal: the triggers of a watcher, made by ectowatch_watch (which checks its arguments first)';

CREATE OR REPLACE FUNCTION @extschema@.ectowatch_watch(
    tbl regclass,
    op text,
    label text DEFAULT NULL,
    trigger_columns text[] DEFAULT NULL,
    extra_columns text[] DEFAULT NULL,
    key_columns text[] DEFAULT NULL,
    condition text DEFAULT NULL,
    replicated boolean DEFAULT false,
    delivery text DEFAULT 'notify')
RETURNS text
LANGUAGE plpgsql
-- Names in a condition are resolved with this path too: qualify your own
-- functions and types there. Nothing the caller puts in its path can hijack
-- what this function runs.
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel record;
    existing @extschema@.ectowatch_catalog;
    keys text[];
    extras text[];
    given_label boolean := label IS NOT NULL;
    trigger_name text;
    used text[];
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ectowatch_watch: tbl must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the table to watch, for example ''users'' or ''shop.orders''.';
    END IF;
    IF op IS NULL OR op NOT IN ('inserted', 'updated', 'deleted') THEN
        RAISE EXCEPTION 'ectowatch_watch: unknown op %', coalesce(quote_literal(op), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of ''inserted'', ''updated'', ''deleted''.';
    END IF;
    PERFORM @extschema@.ectowatch_check_delivery(delivery);
    IF replicated IS NULL THEN
        RAISE EXCEPTION 'ectowatch_watch: replicated must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass true or false (the default).';
    END IF;

    SELECT c.relname, c.relkind, c.relpersistence, c.relowner, n.nspname
      INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
    IF rel.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') THEN
        RAISE EXCEPTION 'ectowatch_watch: % is a system catalog', tbl
            USING ERRCODE = 'feature_not_supported', HINT = 'Only user tables can be watched.';
    END IF;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'ectowatch_watch: % is a %, not a table', tbl,
              CASE rel.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                               WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'
                               WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' ELSE 'relation of kind ' || rel.relkind::text END
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Watch the table the data is written to (for a view, the table it reads from).';
    END IF;
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'ectowatch_watch: % is a temporary table', tbl
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Temporary tables vanish without a trace at session end; watch a regular or unlogged table.';
    END IF;
    IF NOT pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'ectowatch_watch: must be owner of table %', tbl
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask the table''s owner (or a superuser) to create the watcher.';
    END IF;

    -- Labels: given, or <table>_<op> with every other character turned into "_".
    IF label IS NULL THEN
        label := regexp_replace(rel.relname || '_' || op, '[^A-Za-z0-9_]', '_', 'g');
    END IF;
    IF label !~ '^[A-Za-z_][A-Za-z0-9_]*$' OR octet_length(label) > 48 THEN
        IF given_label THEN
            RAISE EXCEPTION 'ectowatch_watch: invalid label %', quote_literal(label)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A label is a letter or "_" followed by letters, digits or "_", at most 48 bytes.';
        ELSE
            RAISE EXCEPTION 'ectowatch_watch: the default label % does not fit the rules for labels', quote_literal(label)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass label => ''a_name'': a letter or "_" followed by letters, digits or "_", at most 48 bytes.';
        END IF;
    END IF;

    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_watch.label;
    IF FOUND AND (existing.table_name <> tbl OR existing.op <> ectowatch_watch.op) THEN
        RAISE EXCEPTION 'ectowatch_watch: label % is already used by the watcher of % on %',
              quote_literal(label), existing.op, existing.table_name
            USING ERRCODE = 'duplicate_object',
                  HINT = CASE WHEN given_label
                              THEN 'Choose another label, or unwatch the existing watcher first.'
                              ELSE 'Pass an explicit label => ''a_name'' for this watcher.' END;
    END IF;

    -- Columns.
    PERFORM @extschema@.ectowatch_check_columns(tbl, 'key_columns', key_columns);
    PERFORM @extschema@.ectowatch_check_columns(tbl, 'extra_columns', extra_columns);
    PERFORM @extschema@.ectowatch_check_columns(tbl, 'trigger_columns', trigger_columns);
    IF trigger_columns IS NOT NULL AND op <> 'updated' THEN
        RAISE EXCEPTION 'ectowatch_watch: trigger_columns only apply to ''updated'' watchers'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave trigger_columns out, or use a condition.';
    END IF;
    keys := key_columns;
    IF keys IS NULL THEN
        SELECT array_agg(a.attname::text ORDER BY k.ord)
          INTO keys
          FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = tbl AND i.indisprimary;
        IF keys IS NULL THEN
            RAISE EXCEPTION 'ectowatch_watch: % has no primary key', tbl
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add a primary key, or name the columns that identify a row: key_columns => ARRAY[''id''].';
        END IF;
    END IF;
    -- A column that is already a key travels once.
    SELECT array_agg(e ORDER BY o) INTO extras
      FROM unnest(extra_columns) WITH ORDINALITY AS x(e, o)
     WHERE e <> ALL (keys);

    trigger_name := @extschema@.ectowatch_attach_triggers(tbl, op, label, delivery, keys, extras, trigger_columns,
                                                          condition, replicated);

    -- Every column the watcher relies on, including those its WHEN clause reads.
    SELECT array_agg(DISTINCT c ORDER BY c) INTO used
      FROM (SELECT unnest(keys || coalesce(extras, '{}') || coalesce(trigger_columns, '{}')) AS c
            UNION
            SELECT a.attname::text
              FROM pg_trigger t
              JOIN pg_depend d ON d.classid = 'pg_trigger'::regclass AND d.objid = t.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
              JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE t.tgrelid = tbl AND t.tgname = trigger_name) AS u;

    INSERT INTO @extschema@.ectowatch_catalog AS c
           (label, table_name, op, key_columns, extra_columns, trigger_columns, condition, replicated, used_columns,
            delivery)
    VALUES (label, tbl, op, keys, extra_columns, trigger_columns, condition, replicated, used, delivery)
    ON CONFLICT ON CONSTRAINT ectowatch_catalog_pkey DO UPDATE
       SET key_columns = EXCLUDED.key_columns, extra_columns = EXCLUDED.extra_columns,
           trigger_columns = EXCLUDED.trigger_columns, condition = EXCLUDED.condition,
           replicated = EXCLUDED.replicated, used_columns = EXCLUDED.used_columns, delivery = EXCLUDED.delivery;
    RETURN label;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_watch(regclass, text, text, text[], text[], text[], text, boolean, text) IS
    'Watch a table for inserted, updated or deleted rows; returns the label, which is also the NOTIFY channel';


-- A table whose DELETE watcher reads transition tables (see above) that
-- joins an inheritance tree (CREATE TABLE ... INHERITS, ALTER TABLE ...
-- INHERIT or ATTACH PARTITION) would miss deletes made through its parent:
-- its watchers are made again, which gives them row triggers.
CREATE FUNCTION @extschema@.ectowatch_guard_inheritance() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
BEGIN
    FOR w IN
        SELECT c.*
          FROM @extschema@.ectowatch_catalog c
          JOIN pg_trigger t ON t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label
         WHERE t.tgtype & 1 = 0 -- TRIGGER_TYPE_ROW unset: a statement trigger
           AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.table_name OR i.inhparent = c.table_name)
    LOOP
        PERFORM @extschema@.ectowatch_watch(w.table_name, w.op, w.label, w.trigger_columns, w.extra_columns,
                                            w.key_columns, w.condition, w.replicated, w.delivery);
        RAISE NOTICE 'ectowatch: watcher % of % now fires per row (its table is part of an inheritance tree)',
            w.label, w.table_name;
    END LOOP;
END;
$$;
CREATE EVENT TRIGGER ectowatch_guard_inheritance ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE')
    EXECUTE FUNCTION @extschema@.ectowatch_guard_inheritance();
