--@if native
-- The row trigger of every watcher (extension/triggers.cpp).
CREATE FUNCTION @extschema@.ectowatch_row_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_row_trigger';
--@else
-- The trigger of every watcher in the portable edition (PL/pgSQL), for one
-- row or, FOR EACH STATEMENT, for every row of the statement's transition
-- table (ectowatch_attach_triggers says which). It packs the rows into as few
-- messages as fit, by the native edition's rule (pack_row in
-- extension/message_packer.hpp): a row too big loses its extra columns
-- ("truncated"), one whose key alone is too big is counted in "dropped" on
-- the last message; a statement's rows never share a message with another
-- statement's. Arguments: layout 3 of extension/watcher_plan.hpp.
-- The SET clauses make values render as natively (ectowatch_render_sql).
CREATE FUNCTION @extschema@.ectowatch_row_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET IntervalStyle = 'iso_8601'
SET bytea_output = 'hex'
SET extra_float_digits = 1
AS $$
DECLARE
    watcher_label text := TG_ARGV[1];
    args text[];
    delivery text;
    key_count int;
    keys text[];
    extras text[];
    op text := CASE TG_OP WHEN 'INSERT' THEN 'inserted' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END;
    prefix text;
    render text;
    capacity int;
    r record;
    row_text text;
    row_size int;
    row_truncated boolean;
    body text := '';
    body_size int := 0;
    row_count int := 0;
    truncated boolean := false;
    dropped bigint := 0;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_NARGS <> 2 OR left(TG_ARGV[0], 2) IS DISTINCT FROM '3{' THEN
        RAISE EXCEPTION 'ectowatch_row_trigger() must be fired AFTER the change, as ectowatch_watch() attaches it'
            USING ERRCODE = 'triggered_action_exception', HINT = 'Use ectowatch_watch() to create watchers.';
    END IF;
    -- Layout 3: '3', then the array literal of the delivery, N, the N key
    -- columns and the extra columns.
    args := substr(TG_ARGV[0], 2)::text[];
    delivery := args[1];
    key_count := args[2]::int;
    keys := args[3 : 2 + key_count];
    extras := args[3 + key_count :];
    -- ectowatch.enabled = off (SET LOCAL, say) suppresses, as natively.
    IF NOT coalesce(nullif(current_setting('ectowatch.enabled', true), ''), 'on')::boolean THEN
        RETURN NULL;
    END IF;
    prefix := @extschema@.ectowatch_message_prefix(TG_RELID, TG_NAME, watcher_label, delivery, op, keys);
    IF prefix IS NULL THEN
        RETURN NULL;
    END IF;
    -- Room kept for the trailer, as kTrailerReserve (message_packer.hpp).
    capacity := 7999 - octet_length(prefix) - 96;
    render := @extschema@.ectowatch_render_sql(TG_RELID, watcher_label, keys, extras);
    FOR r IN EXECUTE CASE
                 WHEN TG_LEVEL = 'ROW' THEN render || ' FROM (SELECT ($1).*) r'
                 WHEN TG_OP = 'DELETE' THEN render || ' FROM ectowatch_deleted_rows r'
                 ELSE render || ' FROM ectowatch_new_rows r' END
             USING CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END
    LOOP
        row_text := r.k || r.x || '}';
        row_size := octet_length(row_text);
        row_truncated := false;
        IF row_size > capacity THEN
            IF octet_length(r.k) + 1 > capacity THEN
                dropped := dropped + 1;
                CONTINUE;
            END IF;
            row_text := r.k || '}';
            row_size := octet_length(row_text);
            row_truncated := true;
        END IF;
        IF row_count > 0 AND body_size + 1 + row_size > capacity THEN
            PERFORM @extschema@.ectowatch_send(delivery, watcher_label,
                prefix || body || ']' || CASE WHEN truncated THEN ',"truncated":true' ELSE '' END || '}');
            body := '';
            body_size := 0;
            row_count := 0;
            truncated := false;
        END IF;
        IF row_count > 0 THEN
            body := body || ',' || row_text;
            body_size := body_size + 1 + row_size;
        ELSE
            body := row_text;
            body_size := row_size;
        END IF;
        row_count := row_count + 1;
        truncated := truncated OR row_truncated;
    END LOOP;
    IF row_count > 0 OR dropped > 0 THEN
        PERFORM @extschema@.ectowatch_send(delivery, watcher_label,
            prefix || body || ']' || CASE WHEN truncated THEN ',"truncated":true' ELSE '' END
            || CASE WHEN dropped > 0 THEN ',"dropped":' || dropped ELSE '' END || '}');
    END IF;
    RETURN NULL;
END;
$$;
--@end
