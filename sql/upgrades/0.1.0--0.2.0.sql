-- ectowatch 0.1.0 -> 0.2.0: durable delivery (delivery => 'durable'): the
-- trigger writes its messages to the WAL as logical messages (prefix
-- "ectowatch") for a slot with the 'ectowatch' output plugin, instead of NOTIFY.
-- New watchers get trigger-argument layout '2'; triggers of layout '1' keep
-- working unchanged (notify delivery).

ALTER TABLE @extschema@.ectowatch_catalog
    ADD COLUMN delivery text NOT NULL DEFAULT 'notify' CHECK (delivery IN (@DELIVERIES@));

--@include views/ectowatch_watchers.sql

-- ectowatch_watch takes a new argument.
DROP FUNCTION @extschema@.ectowatch_watch(regclass, text, text, text[], text[], text[], text, boolean);
--@include functions/ectowatch_watch.sql
