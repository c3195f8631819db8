-- The portable edition's first statement (sql/generate.awk puts it after
-- BEGIN): it refuses to run where it would do harm or could not work. Run
-- again, the script replaces what exists: its notices would only say so.
SET LOCAL client_min_messages = warning;
DO $ectowatch_prologue$
DECLARE
    installed text;
    elsewhere text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'ectowatch') THEN
        RAISE EXCEPTION 'ectowatch: the native edition is installed in this database (CREATE EXTENSION ectowatch), '
                        'so the portable edition is not'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Keep the native edition: ALTER EXTENSION ectowatch UPDATE upgrades it.';
    END IF;
    IF pg_catalog.current_setting('server_version_num')::int < 140000 THEN
        RAISE EXCEPTION 'ectowatch: the portable edition needs PostgreSQL 14 or later (this is %)',
              pg_catalog.current_setting('server_version')
            USING ERRCODE = 'feature_not_supported';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT n.nspname, ', ') INTO elsewhere
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proname = 'ectowatch_portable_version' AND n.nspname <> '@extschema@';
    IF elsewhere IS NOT NULL THEN
        RAISE EXCEPTION 'ectowatch: the portable edition is already installed in schema %, not in @extschema@', elsewhere
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Install (and upgrade) it into the schema it is in: ectowatch install --portable --schema ' || elsewhere;
    END IF;
    IF pg_catalog.to_regproc('@extschema@.ectowatch_portable_version') IS NOT NULL THEN
        EXECUTE 'SELECT @extschema@.ectowatch_portable_version()' INTO installed;
        IF pg_catalog.string_to_array(installed, '.')::int[] > pg_catalog.string_to_array('@VERSION@', '.')::int[] THEN
            RAISE EXCEPTION 'ectowatch: the portable edition % is installed, newer than this script''s @VERSION@', installed
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Install with an ectowatch client of version ' || installed || ' or later.';
        END IF;
    END IF;
END
$ectowatch_prologue$;
