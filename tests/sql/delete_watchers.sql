-- DELETE watchers (ectowatch 0.4.0): a statement trigger over the statement's
-- transition table where such a trigger sees every delete, a row trigger
-- elsewhere; a table that joins an inheritance tree later is switched to a
-- row trigger by an event trigger. (What they send: tests/specs/delete_messages.spec.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
SET client_min_messages = notice;

CREATE VIEW watcher_triggers AS
SELECT tgrelid::regclass AS table_name, tgname, CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END AS fires
  FROM pg_trigger WHERE tgname LIKE 'ectowatch%' AND tgtype & 32 = 0 ORDER BY 1, 2; -- 32: TRUNCATE

-- A plain table: the transition table.
CREATE TABLE plain (id int PRIMARY KEY, v text);
SELECT ectowatch_watch('plain', 'deleted');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_plain_deleted';
-- A condition (statement triggers have no WHEN) or replicated => true (the
-- apply worker fires row triggers only): per row.
SELECT ectowatch_watch('plain', 'deleted', label => 'plain_some', condition => 'OLD.v IS NOT NULL');
SELECT ectowatch_watch('plain', 'deleted', label => 'plain_replicated', replicated => true);
-- Other ops stay row triggers.
SELECT ectowatch_watch('plain', 'updated');

-- Inheritance and partitioning: a DELETE through a parent fires the rows'
-- own tables' row triggers only, so every table in a tree fires per row.
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
SELECT ectowatch_watch('parted', 'deleted');
SELECT ectowatch_watch('parted_low', 'deleted');
CREATE TABLE base (id int PRIMARY KEY);
CREATE TABLE derived () INHERITS (base);
SELECT ectowatch_watch('base', 'deleted');
SELECT ectowatch_watch('derived', 'deleted', key_columns => ARRAY['id']);
SELECT * FROM watcher_triggers;

-- Joining a tree later: the watchers involved are made again, per row.
CREATE TABLE later_parent (id int PRIMARY KEY);
SELECT ectowatch_watch('later_parent', 'deleted');
CREATE TABLE later_child () INHERITS (later_parent);
CREATE TABLE lone (id int PRIMARY KEY);
SELECT ectowatch_watch('lone', 'deleted');
ALTER TABLE lone INHERIT later_parent;
CREATE TABLE parted_two (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE attached (id int PRIMARY KEY);
SELECT ectowatch_watch('attached', 'deleted', label => 'attached_gone');
ALTER TABLE parted_two ATTACH PARTITION attached FOR VALUES FROM (0) TO (10);
SELECT * FROM watcher_triggers WHERE table_name::text IN ('later_parent', 'lone', 'attached');
-- Their catalog entries are unchanged; the view says how they fire.
SELECT label, table_name, op, key_columns, fires FROM ectowatch_watchers
 WHERE label IN ('later_parent_deleted', 'lone_deleted', 'attached_gone') ORDER BY label;

-- Other statement triggers of the table read the same transition table,
-- before and after the watcher's (triggers fire in name order): all rows each.
CREATE TABLE shared (id int PRIMARY KEY);
INSERT INTO shared SELECT generate_series(1, 3);
SELECT ectowatch_watch('shared', 'deleted');
CREATE FUNCTION count_old_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE '% saw % deleted rows', TG_NAME, (SELECT count(*) FROM old_rows);
  RETURN NULL;
END $$;
CREATE TRIGGER aa_before AFTER DELETE ON shared REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_old_rows();
CREATE TRIGGER zz_after AFTER DELETE ON shared REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_old_rows();
DELETE FROM shared;

-- The trigger function refuses a statement trigger without a transition table.
CREATE TABLE misused (id int PRIMARY KEY);
CREATE TRIGGER misused AFTER DELETE ON misused FOR EACH STATEMENT
  EXECUTE FUNCTION ectowatch_row_trigger('2', 'misused', 'notify', '1', 'id');
DELETE FROM misused;

DROP TABLE plain, parted, base, derived, later_parent, later_child, lone, parted_two, shared, misused CASCADE;
DROP FUNCTION count_old_rows();
DROP VIEW watcher_triggers;
SELECT count(*) AS watchers_left FROM ectowatch_watchers;

-- Updating from 0.3.0 leaves an existing DELETE watcher a row trigger (no
-- lock on user tables); watching again, as README.md shows, converts it.
DROP EXTENSION ectowatch;
CREATE EXTENSION ectowatch VERSION '0.3.0';
CREATE TABLE upgraded (id int PRIMARY KEY);
SELECT ectowatch_watch('upgraded', 'deleted');
ALTER EXTENSION ectowatch UPDATE TO '0.4.0';
SELECT label, fires FROM ectowatch_watchers;
SELECT ectowatch_watch(table_name, op, label, trigger_columns, extra_columns, key_columns,
                       condition, replicated, delivery)
  FROM ectowatch_watchers WHERE op = 'deleted' AND fires = 'row';
SELECT label, fires FROM ectowatch_watchers;
DROP TABLE upgraded;
-- Back to the current version for the tests that follow.
ALTER EXTENSION ectowatch UPDATE;
