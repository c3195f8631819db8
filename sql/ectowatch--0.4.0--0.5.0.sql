-- ectowatch 0.4.0 -> 0.5.0: no silent loss (issue 14).
-- Triggers of earlier layouts keep working unchanged.
\echo Use "ALTER EXTENSION ectowatch UPDATE TO '0.5.0'" to load this file. \quit

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

-- The one place where the reserved labels are defined (see above).
CREATE FUNCTION @extschema@.ectowatch_label_reserved(label text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT starts_with(lower(label), 'ectowatch_') AND lower(label) !~ '_(inserted|updated|deleted)$' $$;
COMMENT ON FUNCTION @extschema@.ectowatch_label_reserved(text) IS
    'Internal: whether a label is one of ectowatch''s own channels, which watchers may not use';

-- The one place where a watcher's trigger names are made (see above).
CREATE FUNCTION @extschema@.ectowatch_trigger_name(label text, for_truncate boolean) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'ectowatch_' || label || CASE WHEN for_truncate THEN ':tr' ELSE '' END $$;
COMMENT ON FUNCTION @extschema@.ectowatch_trigger_name(text, boolean) IS
    'Internal: the name of a watcher''s row trigger, or of its TRUNCATE trigger';

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

-- Serializes the watch and unwatch calls of one label until the end of the
-- transaction. Advisory locks live in one space with the application's: the
-- key is a 64-bit hash of 'ectowatch label <label>', and a chance collision
-- only makes a call wait.
CREATE FUNCTION @extschema@.ectowatch_lock_label(label text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(hashtextextended('ectowatch label ' || label, 0)) $$;
COMMENT ON FUNCTION @extschema@.ectowatch_lock_label(text) IS
    'Internal: ectowatch_watch and ectowatch_unwatch of one label wait for each other';

-- The view reads "fires" from the watcher's own row trigger.
CREATE OR REPLACE VIEW @extschema@.ectowatch_watchers AS
    SELECT c.label, c.table_name, c.op, c.label AS channel, c.key_columns, c.extra_columns,
           c.trigger_columns, c.condition, c.replicated, c.delivery,
           (SELECT w.fires FROM @extschema@.ectowatch_triggers w
             WHERE w.table_name = c.table_name AND w.label = c.label AND NOT w.for_truncate
             LIMIT 1) AS fires
      FROM @extschema@.ectowatch_catalog c;

-- A catalog row needs its watcher's own row trigger (not merely one of that name).
ALTER POLICY ectowatch_catalog_insert ON @extschema@.ectowatch_catalog
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                         WHERE c.oid = ectowatch_catalog.table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                             WHERE w.table_name = ectowatch_catalog.table_name
                               AND w.label = ectowatch_catalog.label AND NOT w.for_truncate));
ALTER POLICY ectowatch_catalog_update ON @extschema@.ectowatch_catalog
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                         WHERE c.oid = ectowatch_catalog.table_name), 'USAGE')
                AND EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                             WHERE w.table_name = ectowatch_catalog.table_name
                               AND w.label = ectowatch_catalog.label AND NOT w.for_truncate));

CREATE OR REPLACE FUNCTION @extschema@.ectowatch_attach_triggers(
    tbl regclass, op text, label text, delivery text, keys text[], extras text[], trigger_columns text[],
    condition text, replicated boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_name text := @extschema@.ectowatch_trigger_name(label, false);
    truncate_name text := @extschema@.ectowatch_trigger_name(label, true);
    holder record;
    legacy text;
    stale record;
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

    -- A DELETE watcher over the statement's transition table where that sees
    -- every delete (see ectowatch--0.3.0--0.4.0.sql).
    IF op = 'deleted' AND condition IS NULL AND NOT replicated
       AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relkind = 'r' AND NOT c.relispartition)
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = tbl OR i.inhparent = tbl) THEN
        fires := 'REFERENCING OLD TABLE AS ectowatch_deleted_rows FOR EACH STATEMENT';
    END IF;

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
END;
$$;

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

    -- From here to the end of the transaction no other call for this label
    -- runs, and the catalog read below sees what the last one committed.
    PERFORM @extschema@.ectowatch_lock_label(label);
    -- existing.label (the primary key) is NULL when there is no such watcher.
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_watch.label;
    IF existing.label IS NOT NULL AND (existing.table_name <> tbl OR existing.op <> ectowatch_watch.op) THEN
        RAISE EXCEPTION 'ectowatch_watch: label % is already used by the watcher of % on %',
              quote_literal(label), existing.op, existing.table_name
            USING ERRCODE = 'duplicate_object',
                  HINT = CASE WHEN given_label
                              THEN 'Choose another label, or unwatch the existing watcher first.'
                              ELSE 'Pass an explicit label => ''a_name'' for this watcher.' END;
    END IF;
    -- ectowatch's own channels (see the top of this section); a watcher made
    -- with such a label before 0.5.0 may still be refreshed.
    -- (A default label ends in _<op>, so it is never reserved.)
    IF existing.label IS NULL AND @extschema@.ectowatch_label_reserved(label) THEN
        RAISE EXCEPTION 'ectowatch_watch: label % is reserved for ectowatch''s own channels', quote_literal(label)
            USING ERRCODE = 'reserved_name',
                  HINT = 'Labels that begin with "ectowatch_" (in any letter case) are reserved unless they end in '
                         '"_inserted", "_updated" or "_deleted": choose another label.';
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
    RETURN label;
END;
$$;

CREATE OR REPLACE FUNCTION @extschema@.ectowatch_unwatch(label text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing @extschema@.ectowatch_catalog;
    own record;
BEGIN
    IF label IS NULL THEN
        RAISE EXCEPTION 'ectowatch_unwatch: label must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'SELECT label FROM ectowatch_watchers lists the labels.';
    END IF;
    PERFORM @extschema@.ectowatch_lock_label(label);
    SELECT * INTO existing FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = existing.table_name), 'USAGE') THEN
        RAISE EXCEPTION 'ectowatch_unwatch: must be owner of table %', existing.table_name
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask the table''s owner (or a superuser) to remove the watcher.';
    END IF;
    -- The row goes first, so the drops below are not reported as an accident.
    DELETE FROM @extschema@.ectowatch_catalog c WHERE c.label = ectowatch_unwatch.label;
    -- Exactly this watcher's triggers, whatever their names.
    FOR own IN
        SELECT w.trigger_name FROM @extschema@.ectowatch_triggers w
         WHERE w.table_name = existing.table_name AND w.label = ectowatch_unwatch.label
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', own.trigger_name, existing.table_name);
    END LOOP;
    RETURN true;
END;
$$;

-- A watcher is forgotten once its own row trigger is gone. A trigger of its
-- name that is not its own (a collision of the names before 0.5.0, see above)
-- keeps its row, so the statement that repairs it still finds what to pass.
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_forget_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone text[];
BEGIN
    WITH removed AS (
        DELETE FROM @extschema@.ectowatch_catalog c
         WHERE NOT EXISTS (SELECT 1 FROM @extschema@.ectowatch_triggers w
                            WHERE w.table_name = c.table_name AND w.label = c.label AND NOT w.for_truncate)
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                            WHERE t.tgrelid = c.table_name
                              AND t.tgname = @extschema@.ectowatch_trigger_name(c.label, false))
        RETURNING c.label)
    SELECT array_agg(label ORDER BY label) INTO gone FROM removed;
    IF gone IS NOT NULL THEN
        RAISE NOTICE 'ectowatch: removed watcher(s) % because their table or trigger was dropped',
            array_to_string(gone, ', ');
    END IF;
END;
$$;

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
          JOIN @extschema@.ectowatch_triggers t
            ON t.table_name = c.table_name AND t.label = c.label AND NOT t.for_truncate
         WHERE t.fires = 'statement'
           AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.table_name OR i.inhparent = c.table_name)
    LOOP
        PERFORM @extschema@.ectowatch_watch(w.table_name, w.op, w.label, w.trigger_columns, w.extra_columns,
                                            w.key_columns, w.condition, w.replicated, w.delivery);
        RAISE NOTICE 'ectowatch: watcher % of % now fires per row (its table is part of an inheritance tree)',
            w.label, w.table_name;
    END LOOP;
END;
$$;

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
-- Encoding (case 5) is checked here too, first: messages are UTF-8 whatever
-- the database encoding. The server converts NOTIFY payloads to each
-- listener's client_encoding (the C++ client asks for UTF8), and the output
-- plugin converts durable messages. A SQL_ASCII database has no known
-- encoding to convert from, so no watcher can promise UTF-8 there:
-- ectowatch_watch refuses (watchers made before 0.5.0 keep working as they did).
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_check_delivery(delivery text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reason text;
BEGIN
    IF pg_catalog.getdatabaseencoding() = 'SQL_ASCII' THEN
        RAISE EXCEPTION 'ectowatch_watch: database % has encoding SQL_ASCII, so its text has no known encoding and '
                        'messages cannot be guaranteed to be UTF-8', quote_ident(current_database())
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Watch tables in a database with a real encoding (CREATE DATABASE ... ENCODING ''UTF8'' '
                         'TEMPLATE template0, then dump and restore the data into it).';
    END IF;
    IF delivery IS NULL OR delivery NOT IN ('notify', 'durable', 'relay') THEN
        RAISE EXCEPTION 'ectowatch_watch: unknown delivery %', coalesce(quote_literal(delivery), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''notify'' (NOTIFY, at-most-once), ''durable'' (a replication slot, at-least-once) '
                         'or ''relay'' (NOTIFY sent by the relay worker: no NOTIFY lock at commit).';
    END IF;
    IF delivery IN ('durable', 'relay') AND current_setting('wal_level') <> 'logical' THEN
        RAISE EXCEPTION 'ectowatch_watch: % delivery needs wal_level = logical (it is %)', delivery, current_setting('wal_level')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set wal_level = logical and restart the server, or use delivery => ''notify''.';
    END IF;
    IF delivery = 'relay' THEN
        reason := @extschema@.ectowatch_relay_unavailable();
        IF reason IS NOT NULL THEN
            RAISE EXCEPTION 'ectowatch_watch: relay delivery cannot run: %', reason
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'It needs shared_preload_libraries = ''ectowatch'' (restart), wal_level = logical (restart), '
                             'this database in ectowatch.relay_databases (reload) and its relay worker running with '
                             'its slot: see the reason in ectowatch_relay_status, fix it and try again; '
                             'or use delivery => ''notify''.';
        END IF;
    END IF;
END;
$$;

-- The status view says whether each listed database is served and why not:
-- new columns state ('running', 'starting', 'not served') and reason.
-- ectowatch_relay_workers() returns two more columns, so it and the view
-- built on it are created again (a user view on ectowatch_relay_status would
-- block this update: drop it first).
DROP VIEW @extschema@.ectowatch_relay_status;
DROP FUNCTION @extschema@.ectowatch_relay_workers();
CREATE FUNCTION @extschema@.ectowatch_relay_workers(
    OUT database text, OUT slot_name text, OUT pid integer, OUT worker_confirmed_lsn pg_lsn,
    OUT messages_relayed bigint, OUT notifications_sent bigint, OUT last_error text, OUT last_error_at timestamptz,
    OUT state text, OUT reason text)
RETURNS SETOF record
LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_relay_workers';

CREATE VIEW @extschema@.ectowatch_relay_status AS
    SELECT w.database, w.state, w.reason, w.slot_name, w.pid, s.confirmed_flush_lsn,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS bytes_behind,
           w.messages_relayed, w.notifications_sent, w.last_error, w.last_error_at
      FROM @extschema@.ectowatch_relay_workers() w
      LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = w.slot_name;
GRANT SELECT ON @extschema@.ectowatch_relay_status TO PUBLIC;
