-- Bad input: every mistake gets a clear error with a SQLSTATE (never XX000)
-- and a hint, and changes nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;
CREATE SCHEMA bad;
SET search_path = bad, public;
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

CREATE TABLE users (id int PRIMARY KEY, email text, phone text);
CREATE TABLE no_key (a int, b int);
CREATE VIEW users_view AS SELECT * FROM users;
CREATE MATERIALIZED VIEW users_mv AS SELECT * FROM users;
CREATE SEQUENCE seq;
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_server FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE remote_users (id int) SERVER dummy_server;
CREATE TEMP TABLE temp_users (id int PRIMARY KEY);
CREATE TABLE "a_table_with_a_name_long_enough_to_overflow_the_label" (id int PRIMARY KEY);
CREATE TABLE "1digits" (id int PRIMARY KEY);
SELECT ectowatch_watch('users', 'updated');
CREATE TABLE others (id int PRIMARY KEY);

SELECT count(*) AS triggers_before FROM pg_trigger WHERE tgname LIKE 'ectowatch%' \gset
SELECT md5(string_agg(c::text, ',' ORDER BY label)) AS catalog_before FROM ectowatch_catalog c \gset

\pset format unaligned
\pset tuples_only on
-- Tables that cannot be watched.
SELECT try($$SELECT ectowatch_watch('no_such_table', 'updated')$$);
SELECT try($$SELECT ectowatch_watch(NULL, 'updated')$$);
SELECT try($$SELECT ectowatch_watch('users_view', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('users_mv', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('seq', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('remote_users', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('temp_users', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('pg_class', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('information_schema.sql_features', 'updated')$$);
SELECT try($$SELECT ectowatch_watch('no_key', 'updated')$$);
-- Operations.
SELECT try($$SELECT ectowatch_watch('users', 'modified')$$);
SELECT try($$SELECT ectowatch_watch('users', NULL)$$);
SELECT try($$SELECT ectowatch_watch('users', 'UPDATED')$$);
SELECT try($$SELECT ectowatch_watch('users', 'truncated')$$);
-- Labels.
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => 'bad label')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => '1abc')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => '')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => 'x; DROP TABLE users')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => 'ünïcode')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', label => repeat('a', 49))$$);
SELECT try($$SELECT ectowatch_watch('a_table_with_a_name_long_enough_to_overflow_the_label', 'inserted')$$);
SELECT try($$SELECT ectowatch_watch('"1digits"', 'inserted')$$);
SELECT try($$SELECT ectowatch_watch('users', 'inserted', label => 'users_updated')$$);
SELECT try($$SELECT ectowatch_watch('others', 'updated', label => 'users_updated')$$);
-- The default label users_updated is taken by another table.
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.users (id int PRIMARY KEY);
SELECT try($$SELECT ectowatch_watch('elsewhere.users', 'updated')$$);
-- Column lists.
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['nope'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['Email'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['email', 'email'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY[]::text[])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY[NULL])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY[['id'], ['email']])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['ctid'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', key_columns => ARRAY['id', 'nope'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', key_columns => ARRAY[]::text[])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', trigger_columns => ARRAY['email', 'nope'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'inserted', trigger_columns => ARRAY['email'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'deleted', trigger_columns => ARRAY['email'])$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['x"; DROP TABLE users; --'])$$);
-- Conditions: one boolean expression, nothing else.
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'true) OR (1=1')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'x; DROP TABLE users')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'true; DROP TABLE users')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'true)) EXECUTE FUNCTION pg_sleep(1); --')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'NEW.id FROM pg_class')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'true UNION SELECT false')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'NEW.id, OLD.id')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'true AS x')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => '*')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => '')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => '   ')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'NEW.email')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'NEW.nope = 1')$$);
SELECT try($$SELECT ectowatch_watch('users', 'inserted', condition => 'OLD.id = 1')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => '(SELECT true)')$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', condition => 'NEW.email = ''x'' /* unterminated')$$);
-- Other arguments.
SELECT try($$SELECT ectowatch_watch('users', 'updated', replicated => NULL)$$);
SELECT try($$SELECT ectowatch_unwatch(NULL)$$);
SELECT try($$SELECT ectowatch_watch('users', 'updated', 'label', 'not an array')$$);
-- The trigger functions are not meant to be called directly.
SELECT try($$SELECT ectowatch_row_trigger()$$);
\pset tuples_only off
\pset format aligned

-- Nothing changed: same triggers, same catalog, the table is still there.
SELECT count(*) = :triggers_before AS same_triggers FROM pg_trigger WHERE tgname LIKE 'ectowatch%';
SELECT md5(string_agg(c::text, ',' ORDER BY label)) = :'catalog_before' AS same_catalog FROM ectowatch_catalog c;
SELECT count(*) AS users_rows FROM users;

-- A comment cannot swallow the rest of the generated DDL: it ends at the
-- line break ectowatch_watch puts after the condition.
SELECT ectowatch_watch('users', 'updated', label => 'commented', condition => 'true -- ) EXECUTE FUNCTION x()');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_commented';

-- A trigger created by hand with ectowatch's function but without its
-- arguments warns (once) and lets the write through.
CREATE TRIGGER handmade AFTER INSERT ON others FOR EACH ROW EXECUTE FUNCTION ectowatch_row_trigger();
INSERT INTO others VALUES (1), (2);
-- Misplaced as a BEFORE trigger it would have to drop or pass rows it does
-- not understand; it refuses instead.
CREATE TRIGGER handmade_before BEFORE INSERT ON others FOR EACH ROW EXECUTE FUNCTION ectowatch_row_trigger();
INSERT INTO others VALUES (3);
SELECT count(*) FROM others;

SET client_min_messages = warning;
DROP SCHEMA bad CASCADE;
DROP SCHEMA elsewhere CASCADE;
DROP SERVER dummy_server CASCADE;
DROP FOREIGN DATA WRAPPER dummy_fdw;
