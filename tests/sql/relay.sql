-- Relayed delivery where it cannot run, and the plugin's relay option. The
-- cluster of scripts/test preloads ectowatch and relays only the client
-- tests' database (tests/client/relay_test.cpp checks the relay itself).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
-- delete_watchers.sql leaves 0.4.0 installed: this tests 0.5.0.
ALTER EXTENSION ectowatch UPDATE;
RESET client_min_messages;

CREATE TABLE relay_items (id int PRIMARY KEY);
-- This database has no relay worker: a relay watcher is refused, with what to do.
SELECT ectowatch_relay_unavailable();
SELECT ectowatch_watch('relay_items', 'inserted', delivery => 'relay');
SELECT count(*) FROM ectowatch_watchers WHERE table_name = 'relay_items'::regclass;

-- The status view: one row per relayed database (not this one), with its
-- state and, when it is not served, why.
SELECT count(*) FROM ectowatch_relay_status WHERE database = current_database();
SELECT column_name FROM information_schema.columns
 WHERE table_name = 'ectowatch_relay_status' ORDER BY ordinal_position;

-- ectowatch.relay_databases is refused when the relay could not serve every
-- database it lists (more than 16), and when it is not a list of distinct
-- names; the value in force stays.
SELECT current_setting('ectowatch.relay_databases') AS before \gset
ALTER SYSTEM SET ectowatch.relay_databases = 'd1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20';
ALTER SYSTEM SET ectowatch.relay_databases = 'd1, d2, D1, d1';
ALTER SYSTEM SET ectowatch.relay_databases = 'd1,, d2';
SELECT current_setting('ectowatch.relay_databases') = :'before' AS unchanged;

-- A slot streams relayed messages (prefix ectowatch_relay) only with option
-- relay 'on', and then only those: durable consumers never see them. The
-- durable message is a durable watcher's; the relayed one is made up (the
-- relay cannot run for this database), so it is refused as not written by
-- ectowatch, with a WARNING, and only by the slot that reads that prefix.
CREATE TABLE relay_durable (id int PRIMARY KEY);
SELECT ectowatch_watch('relay_durable', 'inserted', delivery => 'durable');
SELECT 'created' FROM pg_create_logical_replication_slot('ectowatch_relay_test', 'ectowatch');
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch_relay', '{"v":1,"relayed":true}');
INSERT INTO relay_durable VALUES (1);
\set VERBOSITY terse
SELECT data FROM pg_logical_slot_peek_changes('ectowatch_relay_test', NULL, NULL) WHERE data <> '';
SELECT data FROM pg_logical_slot_peek_changes('ectowatch_relay_test', NULL, NULL, 'relay', 'on') WHERE data <> '';
\set VERBOSITY default
SELECT data FROM pg_logical_slot_peek_changes('ectowatch_relay_test', NULL, NULL, 'relay', 'maybe');
SELECT data FROM pg_logical_slot_peek_changes('ectowatch_relay_test', NULL, NULL, 'colour', 'blue');
SELECT pg_drop_replication_slot('ectowatch_relay_test');
DROP TABLE relay_durable;
DROP TABLE relay_items;
