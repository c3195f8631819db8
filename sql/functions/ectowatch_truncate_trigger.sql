--@if native
-- The TRUNCATE trigger of every deleted watcher (extension/triggers.cpp).
CREATE FUNCTION @extschema@.ectowatch_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_truncate_trigger';
--@else
-- The TRUNCATE trigger of every deleted watcher in the portable edition: the
-- "truncated" message, with no rows.
CREATE FUNCTION @extschema@.ectowatch_truncate_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    args text[];
    prefix text;
BEGIN
    IF TG_OP <> 'TRUNCATE' OR TG_NARGS <> 2 OR left(TG_ARGV[0], 2) IS DISTINCT FROM '3{' THEN
        RAISE EXCEPTION 'ectowatch_truncate_trigger() must be fired by TRUNCATE, as ectowatch_watch() attaches it'
            USING ERRCODE = 'triggered_action_exception', HINT = 'Use ectowatch_watch() to create watchers.';
    END IF;
    IF NOT coalesce(nullif(current_setting('ectowatch.enabled', true), ''), 'on')::boolean THEN
        RETURN NULL;
    END IF;
    -- Layout 3 (ectowatch_row_trigger): the delivery, N, the N key columns.
    args := substr(TG_ARGV[0], 2)::text[];
    prefix := @extschema@.ectowatch_message_prefix(TG_RELID, TG_NAME, TG_ARGV[1], args[1], 'truncated',
                                                   args[3 : 2 + args[2]::int]);
    IF prefix IS NOT NULL THEN
        PERFORM @extschema@.ectowatch_send(args[1], TG_ARGV[1], prefix || ']}');
    END IF;
    RETURN NULL;
END;
$$;
--@end
