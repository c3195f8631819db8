-- The update to 0.5.0 (issue 14) changes no existing watcher and takes no lock
-- on user tables. Each watcher on a label reserved since 0.5.0, and each one a
-- trigger-name collision of 0.4.0 broke, gets a WARNING that says what to do;
-- watching again repairs them and moves TRUNCATE triggers to their new names.
-- In a database of its own: it installs an old version.
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
CREATE DATABASE ectowatch_watch_upgrade;
\c ectowatch_watch_upgrade
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION ectowatch VERSION '0.4.0';
CREATE FUNCTION sending() RETURNS TABLE (tbl regclass, tgname name, label text, event text) LANGUAGE sql AS $$
    SELECT t.tgrelid::regclass, t.tgname, split_part(encode(t.tgargs, 'escape'), '\000', 2),
           CASE WHEN t.tgtype & 32 <> 0 THEN 'truncate' WHEN t.tgtype & 4 <> 0 THEN 'insert'
                WHEN t.tgtype & 8 <> 0 THEN 'delete' ELSE 'update' END
      FROM pg_trigger t
     WHERE t.tgfoid IN ('ectowatch_row_trigger'::regproc, 'ectowatch_truncate_trigger'::regproc)
     ORDER BY 1, 2;
$$;
-- 0.4.0's collisions, in both orders: xa loses its TRUNCATE trigger to
-- xa_tr's row trigger; yb_tr loses its row trigger to yb's TRUNCATE trigger.
CREATE TABLE ta (id int PRIMARY KEY);
SELECT ectowatch_watch('ta', 'deleted', label => 'xa');
SELECT ectowatch_watch('ta', 'inserted', label => 'xa_tr');
CREATE TABLE tb (id int PRIMARY KEY);
SELECT ectowatch_watch('tb', 'inserted', label => 'yb_tr');
SELECT ectowatch_watch('tb', 'deleted', label => 'yb');
-- A DELETE watcher without collision, labels reserved since 0.5.0, and a
-- default label that begins with ectowatch_ (not reserved).
CREATE TABLE tc (id int PRIMARY KEY);
SELECT ectowatch_watch('tc', 'deleted');
SELECT ectowatch_watch('tc', 'inserted', label => 'ectowatch_resync');
CREATE TABLE ectowatch_jobs (id int PRIMARY KEY);
SELECT ectowatch_watch('ectowatch_jobs', 'updated');
SELECT ectowatch_watch('ectowatch_jobs', 'inserted', label => 'ectowatch_jobs');
SELECT * FROM sending();
SELECT md5(string_agg(t::text, ',' ORDER BY t.oid)) AS triggers_before FROM pg_trigger t \gset
SELECT md5(string_agg(c::text, ',' ORDER BY label)) AS catalog_before FROM ectowatch_catalog c \gset

RESET client_min_messages;
ALTER EXTENSION ectowatch UPDATE TO '0.5.0';
-- Nothing changed.
SELECT md5(string_agg(t::text, ',' ORDER BY t.oid)) = :'triggers_before' AS same_triggers FROM pg_trigger t;
SELECT md5(string_agg(c::text, ',' ORDER BY label)) = :'catalog_before' AS same_catalog FROM ectowatch_catalog c;
SELECT label, table_name, op, fires FROM ectowatch_watchers ORDER BY label;

-- A watcher on a reserved label may be refreshed, not made anew.
SELECT ectowatch_watch('tc', 'inserted', label => 'ectowatch_resync');
SELECT ectowatch_watch('ectowatch_jobs', 'inserted', label => 'ectowatch_jobs');
SELECT ectowatch_watch('tc', 'updated', label => 'ectowatch_other');

-- The repair the WARNINGs give, for every watcher at once (README.md): each
-- label gets its own triggers; old TRUNCATE triggers move to their new names.
SELECT ectowatch_watch(table_name, op, label, trigger_columns, extra_columns, key_columns,
                       condition, replicated, delivery)
  FROM ectowatch_watchers ORDER BY label;
SELECT * FROM sending();
SELECT label, table_name, op, fires FROM ectowatch_watchers ORDER BY label;
-- Unwatch takes its own triggers only.
SELECT ectowatch_unwatch('yb'), ectowatch_unwatch('xa');
SELECT * FROM sending();

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE ectowatch_watch_upgrade;
