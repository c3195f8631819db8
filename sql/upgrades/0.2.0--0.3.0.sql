-- ectowatch 0.2.0 -> 0.3.0: relayed delivery (delivery => 'relay'): the
-- trigger writes its messages to the WAL (prefix "ectowatch_relay") and the
-- relay worker of this database sends them with NOTIFY, so commits take no
-- NOTIFY lock. Needs shared_preload_libraries = 'ectowatch', wal_level =
-- logical and the database in ectowatch.relay_databases.
-- Triggers of layouts '1' and '2' keep working unchanged.

ALTER TABLE @extschema@.ectowatch_catalog
    DROP CONSTRAINT ectowatch_catalog_delivery_check,
    ADD CONSTRAINT ectowatch_catalog_delivery_check CHECK (delivery IN (@DELIVERIES@));

--@include functions/ectowatch_relay_unavailable.sql
--@include functions/ectowatch_check_delivery.sql
--@include functions/ectowatch_relay_workers.sql
--@include views/ectowatch_relay_status.sql
--@include functions/ectowatch_watch.sql
