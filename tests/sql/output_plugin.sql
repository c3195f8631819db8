-- The `ectowatch` output plugin: a logical slot that streams exactly the
-- committed, transactional "ectowatch" messages that ectowatch wrote (durable
-- delivery). Needs wal_level = logical and, on servers that restrict output
-- plugins, 'ectowatch' in output_plugin_libraries (the cluster of scripts/test
-- has both).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;

SELECT 'created' FROM pg_create_logical_replication_slot('ectowatch_plugin_test', 'ectowatch');

CREATE TABLE plugin_rows (id int PRIMARY KEY);
SELECT ectowatch_watch('plugin_rows', 'inserted', label => 'plugin_rows_inserted', delivery => 'durable');
CREATE TABLE plain_rows (id int);
BEGIN;
INSERT INTO plugin_rows VALUES (1);
SELECT 'sent' FROM pg_logical_emit_message(true, 'another_prefix', 'not ours');
COMMIT;
-- Rolled back: never streamed; also not a rolled-back savepoint.
BEGIN;
INSERT INTO plugin_rows VALUES (2);
ROLLBACK;
BEGIN;
SAVEPOINT s;
INSERT INTO plugin_rows VALUES (3);
ROLLBACK TO SAVEPOINT s;
INSERT INTO plugin_rows VALUES (4);
COMMIT;
-- Non-transactional messages are ignored: they would arrive even for work
-- that is later rolled back (ectowatch never writes one).
SELECT 'sent' FROM pg_logical_emit_message(false, 'ectowatch', 'non-transactional');
-- Row changes alone produce nothing.
INSERT INTO plain_rows VALUES (5);
-- Forged: messages with ectowatch's prefix that ectowatch did not write
-- (pg_logical_emit_message is executable by PUBLIC), by a role without
-- privileges: without a MAC, and with a MAC that is wrong. Neither is
-- streamed; each gets a WARNING (its transaction and WAL position are in the
-- DETAIL, which VERBOSITY terse leaves out here).
CREATE ROLE ectowatch_plugin_forger;
SET ROLE ectowatch_plugin_forger;
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch',
  '{"v":1,"op":"inserted","table":"public.plugin_rows","label":"plugin_rows_inserted","key":["id"],"rows":[{"id":900}]}');
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch',
  convert_to('{"v":1,"op":"inserted","table":"public.plugin_rows","label":"plugin_rows_inserted","key":["id"],"rows":[{"id":901}]}', 'UTF8')
  || '\x0001'::bytea || decode(repeat('00', 32), 'hex'));
RESET ROLE;
DROP ROLE ectowatch_plugin_forger;

-- One row per message, then an empty row at the end of each transaction that
-- had messages, positioned at the end of its commit record (the position a
-- consumer confirms so that it never receives the transaction again).
\set VERBOSITY terse
CREATE TEMP TABLE plugin_output AS
  SELECT lsn, xid, data FROM pg_logical_slot_get_changes('ectowatch_plugin_test', NULL, NULL);
\set VERBOSITY default
SELECT CASE WHEN data = '' THEN '(end of transaction)' ELSE data END AS data FROM plugin_output;
-- Each end row comes after its transaction's messages.
SELECT bool_and(e.lsn > m.lsn) AS ends_last FROM plugin_output e JOIN plugin_output m USING (xid)
  WHERE e.data = '' AND m.data <> '';
-- Consumed: nothing is left.
SELECT count(*) FROM pg_logical_slot_get_changes('ectowatch_plugin_test', NULL, NULL);
SELECT pg_drop_replication_slot('ectowatch_plugin_test');
DROP TABLE plugin_rows, plain_rows;
