-- ectowatch 0.1.0: watchers managed from SQL, a native C++ trigger, message format v1.
\echo Use "CREATE EXTENSION ectowatch" to load this file. \quit

--------------------------------------------------------------------------------
-- The catalog: one row per watcher. Kept by pg_dump (pg_extension_config_dump).
-- The trigger is what actually sends; this table says what exists. Both are
-- always changed together by ectowatch_watch/ectowatch_unwatch, and the event
-- triggers below keep the table in step when triggers or tables are dropped.
--------------------------------------------------------------------------------
CREATE TABLE @extschema@.ectowatch_catalog (
    label           text PRIMARY KEY
                    CHECK (label ~ '^[A-Za-z_][A-Za-z0-9_]*$' AND octet_length(label) <= 48),
    table_name      regclass NOT NULL,
    op              text NOT NULL CHECK (op IN ('inserted', 'updated', 'deleted')),
    key_columns     text[] NOT NULL,
    extra_columns   text[],
    trigger_columns text[],
    condition       text,
    replicated      boolean NOT NULL DEFAULT false,
    -- every column the watcher relies on (keys, extras, trigger columns and
    -- the columns its condition reads): renaming or dropping one is refused
    used_columns    text[] NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ectowatch_catalog', '');

-- Table owners who are not superusers manage their own watchers: every role
-- may read the catalog, but may only change rows of tables it owns, and only
-- rows whose trigger exists (so a label cannot be squatted by hand).
ALTER TABLE @extschema@.ectowatch_catalog ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.ectowatch_catalog TO PUBLIC;
CREATE POLICY ectowatch_catalog_read ON @extschema@.ectowatch_catalog FOR SELECT USING (true);
CREATE POLICY ectowatch_catalog_insert ON @extschema@.ectowatch_catalog FOR INSERT
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = table_name AND t.tgname = 'ectowatch_' || label));
CREATE POLICY ectowatch_catalog_update ON @extschema@.ectowatch_catalog FOR UPDATE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = table_name AND t.tgname = 'ectowatch_' || label));
CREATE POLICY ectowatch_catalog_delete ON @extschema@.ectowatch_catalog FOR DELETE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = table_name), 'USAGE'));

CREATE VIEW @extschema@.ectowatch_watchers AS
    SELECT label, table_name, op, label AS channel, key_columns, extra_columns,
           trigger_columns, condition, replicated
      FROM @extschema@.ectowatch_catalog;
GRANT SELECT ON @extschema@.ectowatch_watchers TO PUBLIC;
COMMENT ON VIEW @extschema@.ectowatch_watchers IS
    'ectowatch watchers: LISTEN on "channel" (always the label) to receive their messages';

--------------------------------------------------------------------------------
-- Native functions (extension/*.cpp).
--------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.ectowatch_row_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_row_trigger';
CREATE FUNCTION @extschema@.ectowatch_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_truncate_trigger';
CREATE FUNCTION @extschema@.ectowatch_check_condition(condition text) RETURNS void
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ectowatch_check_condition';
COMMENT ON FUNCTION @extschema@.ectowatch_check_condition(text) IS
    'Raises an error unless the text is exactly one SQL expression (used by ectowatch_watch)';

--------------------------------------------------------------------------------
-- Checks of the arguments of ectowatch_watch, one per kind of mistake.
--------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.ectowatch_check_columns(tbl regclass, argument text, columns text[])
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col text;
BEGIN
    IF columns IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(columns) = 0 THEN
        RAISE EXCEPTION 'ectowatch_watch: % is empty', argument
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Leave %s out (or pass NULL) instead of an empty array.', argument);
    END IF;
    IF array_ndims(columns) > 1 THEN
        RAISE EXCEPTION 'ectowatch_watch: % must be a one-dimensional array of column names', argument
            USING ERRCODE = 'invalid_parameter_value', HINT = format('For example: %s => ARRAY[''id'']', argument);
    END IF;
    FOREACH col IN ARRAY columns LOOP
        IF col IS NULL THEN
            RAISE EXCEPTION 'ectowatch_watch: % contains NULL', argument
                USING ERRCODE = 'null_value_not_allowed', HINT = 'List column names only.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_attribute
                        WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'ectowatch_watch: column "%" of % does not exist (in %)', col, tbl, argument
                USING ERRCODE = 'undefined_column',
                      HINT = 'Column names are case-sensitive and written without quotes, exactly as in the table.';
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT c) FROM unnest(columns) c) <> cardinality(columns) THEN
        RAISE EXCEPTION 'ectowatch_watch: % lists a column twice', argument
            USING ERRCODE = 'duplicate_column', HINT = 'List each column once.';
    END IF;
END;
$$;

--------------------------------------------------------------------------------
-- ectowatch_watch: create or replace a watcher. Returns its label (= channel).
--------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.ectowatch_watch(
    tbl regclass,
    op text,
    label text DEFAULT NULL,
    trigger_columns text[] DEFAULT NULL,
    extra_columns text[] DEFAULT NULL,
    key_columns text[] DEFAULT NULL,
    condition text DEFAULT NULL,
    replicated boolean DEFAULT false)
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
    when_parts text[] := '{}';
    when_clause text := '';
    trigger_args text;
    event text;
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

    -- Trigger arguments, layout 1 (extension/watcher_plan.hpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['1', label, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
           WITH ORDINALITY AS x(a, o);

    event := CASE op WHEN 'inserted' THEN 'INSERT' WHEN 'updated' THEN 'UPDATE' ELSE 'DELETE' END;
    trigger_name := 'ectowatch_' || label;
    -- CREATE OR REPLACE: a replaced watcher never has a moment without trigger.
    BEGIN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s FOR EACH ROW %s EXECUTE FUNCTION @extschema@.ectowatch_row_trigger(%s)',
                       trigger_name, event, tbl, when_clause, trigger_args);
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
           (label, table_name, op, key_columns, extra_columns, trigger_columns, condition, replicated, used_columns)
    VALUES (label, tbl, op, keys, extra_columns, trigger_columns, condition, replicated, used)
    ON CONFLICT ON CONSTRAINT ectowatch_catalog_pkey DO UPDATE
       SET key_columns = EXCLUDED.key_columns, extra_columns = EXCLUDED.extra_columns,
           trigger_columns = EXCLUDED.trigger_columns, condition = EXCLUDED.condition,
           replicated = EXCLUDED.replicated, used_columns = EXCLUDED.used_columns;
    RETURN label;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_watch(regclass, text, text, text[], text[], text[], text, boolean) IS
    'Watch a table for inserted, updated or deleted rows; returns the label, which is also the NOTIFY channel';

--------------------------------------------------------------------------------
-- ectowatch_unwatch: remove a watcher. True if it existed.
--------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.ectowatch_unwatch(label text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing @extschema@.ectowatch_catalog;
BEGIN
    IF label IS NULL THEN
        RAISE EXCEPTION 'ectowatch_unwatch: label must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'SELECT label FROM ectowatch_watchers lists the labels.';
    END IF;
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = existing.table_name), 'USAGE') THEN
        RAISE EXCEPTION 'ectowatch_unwatch: must be owner of table %', existing.table_name
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask the table''s owner (or a superuser) to remove the watcher.';
    END IF;
    -- The row goes first, so the drop below is not reported as an accident.
    DELETE FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'ectowatch_' || label, existing.table_name);
    IF existing.op = 'deleted' THEN
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'ectowatch_' || label || '_tr', existing.table_name);
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_unwatch(text) IS 'Remove a watcher; true if it existed';

--------------------------------------------------------------------------------
-- Keeping the catalog in step with DDL.
--------------------------------------------------------------------------------
-- A dropped table (or a trigger dropped by hand) takes its watchers along.
-- SECURITY DEFINER: the table is gone, so the row-level policies could no
-- longer recognise its owner; the function only deletes rows whose trigger no
-- longer exists.
CREATE FUNCTION @extschema@.ectowatch_forget_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone text[];
BEGIN
    WITH removed AS (
        DELETE FROM @extschema@.ectowatch_catalog c
         WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t
                            WHERE t.tgrelid = c.table_name AND t.tgname = 'ectowatch_' || c.label)
        RETURNING c.label)
    SELECT array_agg(label ORDER BY label) INTO gone FROM removed;
    IF gone IS NOT NULL THEN
        RAISE NOTICE 'ectowatch: removed watcher(s) % because their table or trigger was dropped',
            array_to_string(gone, ', ');
    END IF;
END;
$$;
CREATE EVENT TRIGGER ectowatch_forget_dropped ON sql_drop
    EXECUTE FUNCTION @extschema@.ectowatch_forget_dropped();

-- Renaming or dropping a column a watcher relies on is refused: its messages
-- would silently change shape. Unwatch first, then watch again.
CREATE FUNCTION @extschema@.ectowatch_guard_columns() RETURNS event_trigger
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
CREATE EVENT TRIGGER ectowatch_guard_columns ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION @extschema@.ectowatch_guard_columns();
