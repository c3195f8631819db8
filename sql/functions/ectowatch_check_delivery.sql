-- The delivery rules of ectowatch_watch, in one function.
-- Encoding (since 0.5.0) is checked here too, first: messages are UTF-8
-- whatever the database encoding. The server converts NOTIFY payloads to each
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
--@if >= 0.5.0
    IF pg_catalog.getdatabaseencoding() = 'SQL_ASCII' THEN
        RAISE EXCEPTION 'ectowatch_watch: database % has encoding SQL_ASCII, so its text has no known encoding and '
                        'messages cannot be guaranteed to be UTF-8', quote_ident(current_database())
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Watch tables in a database with a real encoding (CREATE DATABASE ... ENCODING ''UTF8'' '
                         'TEMPLATE template0, then dump and restore the data into it).';
    END IF;
--@end
    IF delivery IS NULL OR delivery NOT IN (@DELIVERIES@) THEN
        RAISE EXCEPTION 'ectowatch_watch: unknown delivery %', coalesce(quote_literal(delivery), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''notify'' (NOTIFY, at-most-once), ''durable'' (a replication slot, at-least-once) '
                         'or ''relay'' (NOTIFY sent by the relay worker: no NOTIFY lock at commit).';
    END IF;
--@if portable
    IF delivery = 'relay' THEN
        RAISE EXCEPTION 'ectowatch_watch: relay delivery needs the native edition''s background worker, which the '
                        'portable edition of ectowatch (PL/pgSQL, for servers that cannot load ectowatch''s library) '
                        'does not have'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Use delivery => ''notify'' (NOTIFY, at-most-once) or ''durable'' (a replication slot read '
                         'through pgoutput, at-least-once); relay needs CREATE EXTENSION ectowatch on a server that '
                         'has the library.';
    END IF;
--@end
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
--@if < 0.5.0
                      HINT = 'Set shared_preload_libraries = ''ectowatch'' (restart), wal_level = logical (restart) and '
                             'ectowatch.relay_databases to a list that includes this database (reload); '
                             'or use delivery => ''notify''.';
--@else
                      HINT = 'It needs shared_preload_libraries = ''ectowatch'' (restart), wal_level = logical (restart), '
                             'this database in ectowatch.relay_databases (reload) and its relay worker running with '
                             'its slot: see the reason in ectowatch_relay_status, fix it and try again; '
                             'or use delivery => ''notify''.';
--@end
        END IF;
    END IF;
END;
$$;
