-- Durable delivery: a watcher with delivery => 'durable' writes its v1
-- messages to the WAL (logical messages, prefix "ectowatch") instead of
-- NOTIFY; a slot with the 'ectowatch' output plugin streams them in commit
-- order. Needs wal_level = logical (and ectowatch in output_plugin_libraries).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE orders (id int PRIMARY KEY, customer int);
SELECT 'created' FROM pg_create_logical_replication_slot('ectowatch_durable_test', 'ectowatch');
SELECT ectowatch_watch('orders', 'inserted', delivery => 'durable', extra_columns => ARRAY['customer']);
SELECT ectowatch_watch('orders', 'deleted', delivery => 'durable');
SELECT label, delivery FROM ectowatch_watchers WHERE table_name = 'orders'::regclass ORDER BY label;
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_orders_inserted';

-- Nothing goes through NOTIFY (psql would print it here).
LISTEN orders_inserted;
INSERT INTO orders VALUES (1, 10), (2, 20);
BEGIN;
INSERT INTO orders VALUES (3, 30);
SAVEPOINT s;
INSERT INTO orders VALUES (4, 40);
ROLLBACK TO SAVEPOINT s;
COMMIT;
BEGIN;
INSERT INTO orders VALUES (5, 50);
ROLLBACK;
DELETE FROM orders WHERE id = 1;
TRUNCATE orders;
-- A prepared transaction can carry durable messages: they are decoded when
-- COMMIT PREPARED runs.
BEGIN;
INSERT INTO orders VALUES (6, 60);
PREPARE TRANSACTION 'ectowatch_durable';
COMMIT PREPARED 'ectowatch_durable';
UNLISTEN *;

-- (The empty rows that end each transaction are shown by output_plugin.sql.)
SELECT data FROM pg_logical_slot_get_changes('ectowatch_durable_test', NULL, NULL) WHERE data <> '';
SELECT pg_drop_replication_slot('ectowatch_durable_test');

-- Bad delivery values.
SELECT ectowatch_watch('orders', 'updated', delivery => 'carrier pigeon');
SELECT ectowatch_watch('orders', 'updated', delivery => NULL);

-- Switching a watcher between deliveries replaces it in place.
SELECT ectowatch_watch('orders', 'inserted', delivery => 'notify', extra_columns => ARRAY['customer']);
SELECT label, delivery FROM ectowatch_watchers WHERE label = 'orders_inserted';
DROP TABLE orders;
