-- The portable edition renders a row's message object with SQL that this
-- function writes (the native edition: extension/value_encoder.cpp), from the
-- table's columns as they are now:
--   SELECT <k> AS k, <x> AS x
-- where k is `{` and the key members, and x the extra members (each led by a
-- `,`), so k || x || '}' is the row and k || '}' its key-only form; a FROM
-- naming the rows as r follows. Values are rendered as the native edition
-- renders them, whatever the session's settings, when the caller runs with
-- TimeZone UTC, IntervalStyle iso_8601, bytea_output hex and
-- extra_float_digits 1 (as ectowatch_row_trigger does): the types JSON has a
-- form for through to_json, which gives the native forms for them, and every
-- other type as a string of its output function (format's %s calls it, where
-- a cast to text may not: char(n) would lose its padding, inet its mask).
-- A column that no longer exists is sent as null, with a warning, as natively.
CREATE FUNCTION @extschema@.ectowatch_render_sql(tbl regclass, watcher_label text, keys text[], extras text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    columns text[] := keys || coalesce(extras, '{}');
    key_part text := '''{''';
    extra_part text := '''''';
    member text;
    base oid;
    i int;
BEGIN
    FOR i IN 1 .. cardinality(columns) LOOP
        SELECT a.atttypid INTO base FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = columns[i] AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE WARNING 'ectowatch: column "%" of table "%" used by watcher "%" does not exist; it is sent as null',
                  columns[i], tbl, watcher_label
                USING HINT = 'Call ectowatch_watch() again for this label with the current column names.';
            member := '''null''';
        ELSE
            -- A domain is rendered as its base type.
            WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = base) LOOP
                SELECT t.typbasetype INTO base FROM pg_type t WHERE t.oid = base;
            END LOOP;
            IF base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'bool'::regtype, 'json'::regtype,
                        'jsonb'::regtype, 'timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
                member := format('coalesce(to_json(r.%1$I)::text, ''null'')', columns[i]);
            ELSIF base = 'timetz'::regtype THEN
                -- ISO 8601 wants the offset's minutes, which the output leaves out when zero.
                member := format('CASE WHEN num_nulls(r.%1$I) = 1 THEN ''null'' '
                                 'WHEN format(''%%s'', r.%1$I) ~ ''[+-][0-9][0-9]$'' '
                                 'THEN to_json(format(''%%s:00'', r.%1$I))::text '
                                 'ELSE to_json(format(''%%s'', r.%1$I))::text END', columns[i]);
            ELSE
                -- num_nulls: a composite of NULL fields IS NULL, yet is no SQL NULL.
                member := format('CASE WHEN num_nulls(r.%1$I) = 1 THEN ''null'' ELSE to_json(format(''%%s'', r.%1$I))::text END',
                                 columns[i]);
            END IF;
        END IF;
        member := quote_literal(CASE WHEN i = 1 THEN '' ELSE ',' END
                                || to_json(columns[i])::text || ':') || ' || ' || member;
        IF i <= cardinality(keys) THEN
            key_part := key_part || ' || ' || member;
        ELSE
            extra_part := extra_part || ' || ' || member;
        END IF;
    END LOOP;
    RETURN 'SELECT ' || key_part || ' AS k, ' || extra_part || ' AS x';
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_render_sql(regclass, text, text[], text[]) IS
    'Internal (portable edition): the SQL that renders a watcher''s rows as message objects';
