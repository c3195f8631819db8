-- The SQL API: watching, listing, replacing and unwatching.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;

CREATE SCHEMA api;
SET search_path = api, public;
\set SHOW_CONTEXT never
CREATE TABLE users (id bigint PRIMARY KEY, email text, phone text, name text);
CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL, body text);

-- The examples of the README.
SELECT ectowatch_watch('users', 'updated');
SELECT ectowatch_watch('comments', 'deleted', extra_columns => ARRAY['post_id']);
SELECT ectowatch_watch('users', 'updated', label => 'user_contact_changed',
                       trigger_columns => ARRAY['email', 'phone']);
SELECT * FROM ectowatch_watchers ORDER BY label;

-- The trigger behind each watcher; a deleted watcher also has a TRUNCATE trigger.
SELECT tgname, tgrelid::regclass, tgenabled, pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgname LIKE 'ectowatch%' ORDER BY tgname;

-- Calling again with the same label replaces the watcher in place.
SELECT oid AS old_trigger FROM pg_trigger WHERE tgname = 'ectowatch_users_updated' \gset
SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['name'], replicated => true);
SELECT oid = :old_trigger AS same_trigger, tgenabled, pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgname = 'ectowatch_users_updated';
SELECT label, extra_columns, replicated FROM ectowatch_watchers WHERE label = 'users_updated';
-- ...and back: replicated => false turns ENABLE ALWAYS off again.
SELECT ectowatch_watch('users', 'updated');
SELECT tgenabled FROM pg_trigger WHERE tgname = 'ectowatch_users_updated';

-- key_columns: any columns, in the order given; a key listed as extra travels once.
SELECT ectowatch_watch('users', 'inserted', key_columns => ARRAY['email', 'id'],
                       extra_columns => ARRAY['id', 'name']);
SELECT key_columns, extra_columns FROM ectowatch_watchers WHERE label = 'users_inserted';
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_users_inserted';

-- Composite primary keys resolve in index order, whatever the column names.
CREATE TABLE memberships (team text, "Member Id" int, since date, PRIMARY KEY ("Member Id", team));
SELECT ectowatch_watch('memberships', 'inserted');
SELECT key_columns FROM ectowatch_watchers WHERE label = 'memberships_inserted';

-- condition goes into the trigger's WHEN clause, next to trigger_columns.
SELECT ectowatch_watch('users', 'updated', label => 'user_renamed', trigger_columns => ARRAY['name'],
                       condition => 'NEW.name IS NOT NULL');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_user_renamed';
SELECT condition, trigger_columns FROM ectowatch_watchers WHERE label = 'user_renamed';

-- Names that need quoting, another schema, unicode.
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Order ""Items""" ("Item Id" int PRIMARY KEY, "qty;" int, "ünïcode" text);
SELECT ectowatch_watch('"Odd Schema"."Order ""Items"""', 'inserted', extra_columns => ARRAY['qty;', 'ünïcode']);
SELECT ectowatch_watch('"Odd Schema"."Order ""Items"""', 'deleted', label => 'items_gone');
SELECT label, table_name, key_columns, extra_columns FROM ectowatch_watchers
 WHERE table_name = '"Odd Schema"."Order ""Items"""'::regclass ORDER BY label;

-- Identifiers of exactly 63 bytes (the limit), quoted and unicode: the
-- default label would be too long, an explicit one works.
CREATE TABLE "t23456789_123456789_123456789_123456789_123456789_123456789_1ä" (
    "k23456789_123456789_123456789_123456789_123456789_123456789_123" int PRIMARY KEY,
    "a; DROP TABLE b" text);
SELECT ectowatch_watch('"t23456789_123456789_123456789_123456789_123456789_123456789_1ä"', 'inserted');
SELECT ectowatch_watch('"t23456789_123456789_123456789_123456789_123456789_123456789_1ä"', 'inserted',
                       label => 'long_names', extra_columns => ARRAY['a; DROP TABLE b']);
SELECT octet_length(table_name::text) - 2 AS table_bytes, key_columns, extra_columns
  FROM ectowatch_watchers WHERE label = 'long_names';

-- A partitioned table (its partitions get clones of the row trigger) and an unlogged table.
CREATE TABLE events (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
SELECT ectowatch_watch('events', 'inserted');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'ectowatch_events_inserted' ORDER BY 1;
CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
SELECT ectowatch_watch('scratch', 'deleted');

-- Unwatch: true if it existed, false afterwards; its triggers are gone.
SELECT ectowatch_unwatch('items_gone');
SELECT ectowatch_unwatch('items_gone');
SELECT ectowatch_unwatch('never_existed');
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ectowatch_items_gone%';

-- The view is readable by everyone; the channel is always the label.
SELECT bool_and(channel = label) AS channel_is_label FROM ectowatch_watchers;
SELECT has_table_privilege('public', 'ectowatch_watchers', 'SELECT') AS public_can_read;

-- The setting exists and any user may change it.
SHOW ectowatch.enabled;
SELECT context FROM pg_settings WHERE name = 'ectowatch.enabled';

DROP SCHEMA api CASCADE;
DROP SCHEMA "Odd Schema" CASCADE;
SELECT count(*) AS watchers_left FROM ectowatch_watchers;
