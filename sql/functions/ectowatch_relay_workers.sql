-- One row per relayed database: its worker and slot (the view
-- ectowatch_relay_status shows it). Native (extension/relay_shared.cpp).
CREATE FUNCTION @extschema@.ectowatch_relay_workers(
    OUT database text, OUT slot_name text, OUT pid integer, OUT worker_confirmed_lsn pg_lsn,
--@if < 0.5.0
    OUT messages_relayed bigint, OUT notifications_sent bigint, OUT last_error text, OUT last_error_at timestamptz)
--@else
    OUT messages_relayed bigint, OUT notifications_sent bigint, OUT last_error text, OUT last_error_at timestamptz,
    OUT state text, OUT reason text)
--@end
RETURNS SETOF record
--@if native
LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_relay_workers';
--@else
-- The portable edition has no relay worker: no rows.
LANGUAGE sql AS $$ SELECT NULL::text, NULL::text, NULL::int, NULL::pg_lsn, NULL::bigint, NULL::bigint, NULL::text,
                          NULL::timestamptz, NULL::text, NULL::text WHERE false $$;
--@end
