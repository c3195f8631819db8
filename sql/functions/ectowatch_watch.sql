--------------------------------------------------------------------------------
-- ectowatch_watch: create or replace a watcher. Returns its label (= channel).
--------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_watch(
    tbl regclass,
    op text,
    label text DEFAULT NULL,
    trigger_columns text[] DEFAULT NULL,
    extra_columns text[] DEFAULT NULL,
    key_columns text[] DEFAULT NULL,
    condition text DEFAULT NULL,
--@if < 0.2.0
    replicated boolean DEFAULT false)
--@else
    replicated boolean DEFAULT false,
    delivery text DEFAULT 'notify')
--@end
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
--@if < 0.4.0
    when_parts text[] := '{}';
    when_clause text := '';
    trigger_args text;
    event text;
--@end
    used text[];
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ectowatch_watch: tbl must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the table to watch, for example ''users'' or ''shop.orders''.';
    END IF;
    IF op IS NULL OR op NOT IN (@OPS@) THEN
        RAISE EXCEPTION 'ectowatch_watch: unknown op %', coalesce(quote_literal(op), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of @OPS:quoted@.';
    END IF;
--@if >= 0.2.0
--@if < 0.3.0
    IF delivery IS NULL OR delivery NOT IN (@DELIVERIES@) THEN
        RAISE EXCEPTION 'ectowatch_watch: unknown delivery %', coalesce(quote_literal(delivery), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''notify'' (NOTIFY, at-most-once) or ''durable'' (logical decoding, at-least-once).';
    END IF;
    IF delivery = 'durable' AND current_setting('wal_level') <> 'logical' THEN
        RAISE EXCEPTION 'ectowatch_watch: durable delivery needs wal_level = logical (it is %)', current_setting('wal_level')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set wal_level = logical and restart the server, or use delivery => ''notify''.';
    END IF;
--@else
    PERFORM @extschema@.ectowatch_check_delivery(delivery);
--@end
--@end
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

--@if < 0.5.0
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_watch.label;
    IF FOUND AND (existing.table_name <> tbl OR existing.op <> ectowatch_watch.op) THEN
--@else
    -- From here to the end of the transaction no other call for this label
    -- runs, and the catalog read below sees what the last one committed.
    PERFORM @extschema@.ectowatch_lock_label(label);
--@if portable
    -- No event trigger removed the watchers of dropped tables: done here.
    PERFORM @extschema@.ectowatch_forget_dropped();
--@end
    -- existing.label (the primary key) is NULL when there is no such watcher.
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_watch.label;
    IF existing.label IS NOT NULL AND (existing.table_name <> tbl OR existing.op <> ectowatch_watch.op) THEN
--@end
        RAISE EXCEPTION 'ectowatch_watch: label % is already used by the watcher of % on %',
              quote_literal(label), existing.op, existing.table_name
            USING ERRCODE = 'duplicate_object',
                  HINT = CASE WHEN given_label
                              THEN 'Choose another label, or unwatch the existing watcher first.'
                              ELSE 'Pass an explicit label => ''a_name'' for this watcher.' END;
    END IF;
--@if >= 0.5.0
    -- ectowatch's own channels (see ectowatch_label_reserved); a watcher made
    -- with such a label before 0.5.0 may still be refreshed.
    -- (A default label ends in _<op>, so it is never reserved.)
    IF existing.label IS NULL AND @extschema@.ectowatch_label_reserved(label) THEN
        RAISE EXCEPTION 'ectowatch_watch: label % is reserved for ectowatch''s own channels', quote_literal(label)
            USING ERRCODE = 'reserved_name',
                  HINT = 'Labels that begin with "ectowatch_" (in any letter case) are reserved unless they end in '
                         '"_inserted", "_updated" or "_deleted": choose another label.';
    END IF;
--@end

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

--@if < 0.4.0
--@include fragments/trigger_when_and_arguments.sql

    event := CASE op WHEN 'inserted' THEN 'INSERT' WHEN 'updated' THEN 'UPDATE' ELSE 'DELETE' END;
    trigger_name := 'ectowatch_' || label;
--@include fragments/make_triggers_before_0.5.0.sql
--@else
    trigger_name := @extschema@.ectowatch_attach_triggers(tbl, op, label, delivery, keys, extras, trigger_columns,
                                                          condition, replicated);
--@end

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

--@if < 0.5.0
    INSERT INTO @extschema@.ectowatch_catalog AS c
--@if < 0.2.0
           (label, table_name, op, key_columns, extra_columns, trigger_columns, condition, replicated, used_columns)
    VALUES (label, tbl, op, keys, extra_columns, trigger_columns, condition, replicated, used)
--@else
           (label, table_name, op, key_columns, extra_columns, trigger_columns, condition, replicated, used_columns,
            delivery)
    VALUES (label, tbl, op, keys, extra_columns, trigger_columns, condition, replicated, used, delivery)
--@end
    ON CONFLICT ON CONSTRAINT ectowatch_catalog_pkey DO UPDATE
       SET key_columns = EXCLUDED.key_columns, extra_columns = EXCLUDED.extra_columns,
           trigger_columns = EXCLUDED.trigger_columns, condition = EXCLUDED.condition,
--@if < 0.2.0
           replicated = EXCLUDED.replicated, used_columns = EXCLUDED.used_columns;
--@else
           replicated = EXCLUDED.replicated, used_columns = EXCLUDED.used_columns, delivery = EXCLUDED.delivery;
--@end
--@else
    IF existing.label IS NOT NULL THEN
        UPDATE @extschema@.ectowatch_catalog c
           SET key_columns = keys, extra_columns = ectowatch_watch.extra_columns,
               trigger_columns = ectowatch_watch.trigger_columns, condition = ectowatch_watch.condition,
               replicated = ectowatch_watch.replicated, used_columns = used, delivery = ectowatch_watch.delivery
         WHERE c.label = ectowatch_watch.label AND c.table_name = tbl AND c.op = ectowatch_watch.op;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ectowatch_watch: the watcher % was changed by a concurrent transaction', quote_literal(label)
                USING ERRCODE = 'serialization_failure', HINT = 'Retry the transaction.';
        END IF;
    ELSE
        BEGIN
            INSERT INTO @extschema@.ectowatch_catalog
                   (label, table_name, op, key_columns, extra_columns, trigger_columns, condition, replicated,
                    used_columns, delivery)
            VALUES (label, tbl, op, keys, extra_columns, trigger_columns, condition, replicated, used, delivery);
        EXCEPTION WHEN unique_violation THEN
            -- A concurrent call took the label after this transaction's
            -- snapshot was taken (REPEATABLE READ or SERIALIZABLE).
            RAISE EXCEPTION 'ectowatch_watch: label % was taken by a concurrent transaction', quote_literal(label)
                USING ERRCODE = 'duplicate_object',
                      HINT = 'Choose another label, or retry the transaction to see the watcher that has it.';
        END;
    END IF;
--@end
    RETURN label;
END;
$$;
--@if < 0.2.0
COMMENT ON FUNCTION @extschema@.ectowatch_watch(regclass, text, text, text[], text[], text[], text, boolean) IS
--@else
COMMENT ON FUNCTION @extschema@.ectowatch_watch(regclass, text, text, text[], text[], text[], text, boolean, text) IS
--@end
    'Watch a table for inserted, updated or deleted rows; returns the label, which is also the NOTIFY channel';
