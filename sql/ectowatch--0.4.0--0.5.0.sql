-- ectowatch 0.4.0 -> 0.5.0: no silent loss (issue 14).
-- Triggers of earlier layouts keep working unchanged.
\echo Use "ALTER EXTENSION ectowatch UPDATE TO '0.5.0'" to load this file. \quit

-- == Watch API: collision-free trigger names, one owner per label, reserved channels

-- == Relay: every listed database served or refused, no relayed row before the slot
-- ectowatch_relay_unavailable() also says why a listed database is not served
-- (no worker slot, cannot connect, cannot create its slot) and that its slot
-- does not exist yet (waiting up to 5 s for a starting worker): a relay
-- watcher is refused then, instead of losing the rows committed before the
-- slot existed. The hint no longer assumes the database is unlisted.
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_check_delivery(delivery text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reason text;
BEGIN
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
