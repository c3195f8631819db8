-- Labels and the triggers behind them (issue 14): no two labels ever share a
-- trigger name, unwatch removes exactly its own watcher's triggers, and labels
-- that would be one of ectowatch's own channels are refused.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;
CREATE SCHEMA names;
SET search_path = names, public;
\set SHOW_CONTEXT never
-- try(sql): runs sql and reports 'ok' or SQLSTATE, message and hint.
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; message text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || message || CASE WHEN hint <> '' THEN E'\n       HINT: ' || hint ELSE '' END;
END $$;
-- Every trigger on the table that sends for ectowatch: its name, the label in
-- its arguments and what fires it.
CREATE FUNCTION sending(tbl regclass) RETURNS TABLE (tgname name, label text, event text) LANGUAGE sql AS $$
    SELECT t.tgname, split_part(encode(t.tgargs, 'escape'), '\000', 2),
           CASE WHEN t.tgtype & 32 <> 0 THEN 'truncate' WHEN t.tgtype & 4 <> 0 THEN 'insert'
                WHEN t.tgtype & 8 <> 0 THEN 'delete' ELSE 'update' END
      FROM pg_trigger t
     WHERE t.tgrelid = tbl AND t.tgfoid IN ('ectowatch_row_trigger'::regproc, 'ectowatch_truncate_trigger'::regproc)
     ORDER BY 2, 3;
$$;

-- A DELETE watcher's TRUNCATE trigger and the label + '_tr' on the same table,
-- in both orders: each label keeps its own triggers.
CREATE TABLE ta (id int PRIMARY KEY);
SELECT ectowatch_watch('ta', 'deleted', label => 'xa');
SELECT ectowatch_watch('ta', 'inserted', label => 'xa_tr');
SELECT * FROM sending('ta');
CREATE TABLE tb (id int PRIMARY KEY);
SELECT ectowatch_watch('tb', 'inserted', label => 'yb_tr');
SELECT ectowatch_watch('tb', 'deleted', label => 'yb');
SELECT * FROM sending('tb');
SELECT label, table_name, op, fires FROM ectowatch_watchers ORDER BY label;

-- Unwatch removes its own watcher's triggers only, whatever their names.
SELECT ectowatch_unwatch('xa');
SELECT * FROM sending('ta');
SELECT ectowatch_unwatch('yb');
SELECT * FROM sending('tb');
SELECT label FROM ectowatch_watchers ORDER BY label;

-- Labels of 48 bytes (the longest) that differ only in their last byte, and
-- one of 45 bytes next to the same + '_tr': the names stay within
-- PostgreSQL's 63 bytes, so none is cut short into another.
CREATE TABLE tl (id int PRIMARY KEY);
SELECT length(ectowatch_watch('tl', 'deleted', label => repeat('l', 47) || '1'));
SELECT length(ectowatch_watch('tl', 'deleted', label => repeat('l', 47) || '2'));
SELECT length(ectowatch_watch('tl', 'deleted', label => repeat('l', 44) || '3'));
SELECT length(ectowatch_watch('tl', 'inserted', label => repeat('l', 44) || '3_tr'));
SELECT octet_length(tgname) AS bytes, right(tgname, 6) AS name_ends, right(label, 4) AS label_ends, event,
       tgname IN ('ectowatch_' || label, 'ectowatch_' || label || ':tr') AS named_after_its_label
  FROM sending('tl');

\pset format unaligned
-- A trigger of someone else that already holds a watcher's trigger name is
-- never replaced: the watch is refused and nothing changes.
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TABLE th (id int PRIMARY KEY);
CREATE TRIGGER ectowatch_th_audit AFTER INSERT ON th FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER "ectowatch_th_gone:tr" AFTER TRUNCATE ON th FOR EACH STATEMENT EXECUTE FUNCTION audit();
SELECT try($$SELECT ectowatch_watch('th', 'inserted', label => 'th_audit')$$);
SELECT try($$SELECT ectowatch_watch('th', 'deleted', label => 'th_gone')$$);
SELECT tgname, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'th'::regclass ORDER BY 1;
SELECT count(*) AS th_watchers FROM ectowatch_watchers WHERE table_name = 'th'::regclass;

-- Reserved labels: ectowatch's own channels begin with ectowatch_ and never
-- end in _inserted, _updated or _deleted (the relay worker's resync channel is
-- ectowatch_resync); in any letter case, because an unquoted LISTEN folds to
-- lower case.
SELECT try($$SELECT ectowatch_watch('ta', 'inserted', label => 'ectowatch_resync')$$);
SELECT try($$SELECT ectowatch_watch('ta', 'inserted', label => 'ECTOWATCH_Resync')$$);
SELECT try($$SELECT ectowatch_watch('ta', 'updated', label => 'ectowatch_future_channel')$$);
SELECT try($$SELECT ectowatch_watch('ta', 'updated', label => 'ectowatch_deleted_rows')$$);
-- The suffixes stay free, so the default label of a table named
-- ectowatch_... works, and so does the same label given explicitly.
CREATE TABLE ectowatch_jobs (id int PRIMARY KEY);
SELECT ectowatch_watch('ectowatch_jobs', 'updated');
SELECT ectowatch_watch('ectowatch_jobs', 'inserted', label => 'Ectowatch_Jobs_Inserted');
\pset format aligned
-- Labels that only look alike are fine.
SELECT ectowatch_watch('ta', 'updated', label => 'ectowatch');
SELECT ectowatch_watch('ta', 'inserted', label => 'my_ectowatch_resync');
SELECT label FROM ectowatch_watchers WHERE label ILIKE '%ectowatch%' ORDER BY label;
-- Nothing of the refused watchers was left behind.
SELECT count(*) AS refused_triggers FROM pg_trigger
 WHERE split_part(encode(tgargs, 'escape'), '\000', 2)
       IN ('ectowatch_resync', 'ECTOWATCH_Resync', 'ectowatch_future_channel', 'ectowatch_deleted_rows');

DROP SCHEMA names CASCADE;
