-- One row per database listed in ectowatch.relay_databases: its worker and
-- slot; since 0.5.0 also whether it is served (state) and why not (reason).
CREATE VIEW @extschema@.ectowatch_relay_status AS
--@if < 0.5.0
    SELECT w.database, w.slot_name, w.pid, s.confirmed_flush_lsn,
--@else
    SELECT w.database, w.state, w.reason, w.slot_name, w.pid, s.confirmed_flush_lsn,
--@end
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS bytes_behind,
           w.messages_relayed, w.notifications_sent, w.last_error, w.last_error_at
      FROM @extschema@.ectowatch_relay_workers() w
      LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = w.slot_name;
GRANT SELECT ON @extschema@.ectowatch_relay_status TO PUBLIC;
