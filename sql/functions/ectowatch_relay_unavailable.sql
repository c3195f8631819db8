-- Why this session's relayed messages would not be relayed (NULL: they would).
-- Since 0.5.0 it also says why a listed database is not served (no worker
-- slot, cannot connect, cannot create its slot) and that its slot does not
-- exist yet (waiting up to 5 s for a starting worker): a relay watcher is
-- refused then, instead of losing the rows committed before the slot existed.
--@if native
-- Native (extension/relay_shared.cpp).
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_relay_unavailable() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'ectowatch_relay_unavailable';
--@else
-- The portable edition has no relay worker, ever.
CREATE OR REPLACE FUNCTION @extschema@.ectowatch_relay_unavailable() RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT 'the portable edition of ectowatch has no relay worker (it is the native library''s background worker)'::text $$;
--@end
