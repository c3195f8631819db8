-- The `ectowatch` output plugin: a logical slot that streams exactly the
-- committed, transactional "ectowatch" messages (durable delivery). Needs
-- wal_level = logical and, on servers that restrict output plugins,
-- 'ectowatch' in output_plugin_libraries (the cluster of scripts/test has both).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;

SELECT 'created' FROM pg_create_logical_replication_slot('ectowatch_plugin_test', 'ectowatch');

CREATE TABLE plugin_rows (id int PRIMARY KEY);
BEGIN;
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch', '{"v":1,"op":"inserted","table":"public.t","label":"t_inserted","key":["id"],"rows":[{"id":1}]}');
SELECT 'sent' FROM pg_logical_emit_message(true, 'another_prefix', 'not ours');
INSERT INTO plugin_rows VALUES (1);
COMMIT;
-- Rolled back: never streamed; also not a rolled-back savepoint.
BEGIN;
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch', 'rolled back');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch', 'rolled back savepoint');
ROLLBACK TO SAVEPOINT s;
SELECT 'sent' FROM pg_logical_emit_message(true, 'ectowatch', 'second');
COMMIT;
-- Non-transactional messages are ignored: they would arrive even for work
-- that is later rolled back.
SELECT 'sent' FROM pg_logical_emit_message(false, 'ectowatch', 'non-transactional');
-- Row changes alone produce nothing.
INSERT INTO plugin_rows VALUES (2);

-- One row per message, then an empty row at the end of each transaction that
-- had messages, positioned at the end of its commit record (the position a
-- consumer confirms so that it never receives the transaction again).
CREATE TEMP TABLE plugin_output AS
  SELECT lsn, xid, data FROM pg_logical_slot_get_changes('ectowatch_plugin_test', NULL, NULL);
SELECT CASE WHEN data = '' THEN '(end of transaction)' ELSE data END AS data FROM plugin_output;
-- Each end row comes after its transaction's messages.
SELECT bool_and(e.lsn > m.lsn) AS ends_last FROM plugin_output e JOIN plugin_output m USING (xid)
  WHERE e.data = '' AND m.data <> '';
-- Consumed: nothing is left.
SELECT count(*) FROM pg_logical_slot_get_changes('ectowatch_plugin_test', NULL, NULL);
SELECT pg_drop_replication_slot('ectowatch_plugin_test');
DROP TABLE plugin_rows;
