-- How watchers follow DDL, and who may manage them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;
CREATE SCHEMA ddl;
SET search_path = ddl, public;
\set SHOW_CONTEXT never

CREATE TABLE users (id int PRIMARY KEY, email text, phone text, name text);
SELECT ectowatch_watch('users', 'updated', extra_columns => ARRAY['email']);
SELECT ectowatch_watch('users', 'deleted', condition => 'OLD.phone IS NOT NULL');

-- Renaming or dropping a column a watcher relies on is refused, with the way out.
ALTER TABLE users RENAME COLUMN email TO mail;
ALTER TABLE users DROP COLUMN email;
-- ...including a column read only by the condition.
ALTER TABLE users RENAME COLUMN phone TO tel;
-- Other columns are free to change.
ALTER TABLE users RENAME COLUMN name TO full_name;
ALTER TABLE users DROP COLUMN full_name;
SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

-- Renaming the table or moving it to another schema is followed.
ALTER TABLE users RENAME TO members;
CREATE SCHEMA moved;
ALTER TABLE members SET SCHEMA moved;
SELECT label, table_name FROM ectowatch_watchers ORDER BY label;

-- The primary key is resolved when the watcher is created and kept:
-- changing it later leaves the watcher's key_columns as they were.
CREATE TABLE accounts (id int PRIMARY KEY, code text NOT NULL UNIQUE);
SELECT ectowatch_watch('accounts', 'inserted');
ALTER TABLE accounts DROP CONSTRAINT accounts_pkey;
ALTER TABLE accounts ADD PRIMARY KEY (code);
SELECT key_columns FROM ectowatch_watchers WHERE label = 'accounts_inserted';
-- Watching again with the same label picks up the new key.
SELECT ectowatch_watch('accounts', 'inserted');
SELECT key_columns FROM ectowatch_watchers WHERE label = 'accounts_inserted';

-- Dropping a trigger by hand or dropping the table removes the watcher.
DROP TRIGGER ectowatch_accounts_inserted ON accounts;
SELECT label FROM ectowatch_watchers WHERE label = 'accounts_inserted';
SELECT ectowatch_watch('accounts', 'updated');
DROP TABLE accounts;
SELECT label FROM ectowatch_watchers WHERE label LIKE 'accounts%';

-- Only the table's owner (or a superuser) manages its watchers.
CREATE ROLE ectowatch_owner;
CREATE ROLE ectowatch_other;
GRANT USAGE, CREATE ON SCHEMA ddl TO ectowatch_owner, ectowatch_other;
SET ROLE ectowatch_owner;
CREATE TABLE owned (id int PRIMARY KEY, secret text);
SELECT ectowatch_watch('owned', 'inserted');
SELECT ectowatch_watch('owned', 'deleted');
-- Granting TRIGGER does not make someone an owner.
GRANT TRIGGER, SELECT ON owned TO ectowatch_other;
SET ROLE ectowatch_other;
SELECT ectowatch_watch('owned', 'updated');
SELECT ectowatch_watch('owned', 'inserted', extra_columns => ARRAY['secret']);
SELECT ectowatch_unwatch('owned_inserted');
-- Nor can the catalog be changed directly for someone else's table.
UPDATE ectowatch_catalog SET extra_columns = ARRAY['secret'] WHERE label = 'owned_inserted';
DELETE FROM ectowatch_catalog WHERE label = 'owned_inserted';
INSERT INTO ectowatch_catalog (label, table_name, op, key_columns, used_columns)
     VALUES ('squatted', 'owned', 'inserted', '{id}', '{id}');
ALTER TABLE ectowatch_catalog DISABLE ROW LEVEL SECURITY;
-- ...nor even for one's own table without the trigger behind it.
CREATE TABLE mine (id int PRIMARY KEY);
INSERT INTO ectowatch_catalog (label, table_name, op, key_columns, used_columns)
     VALUES ('squatted', 'mine', 'inserted', '{id}', '{id}');
RESET ROLE;
SELECT label, extra_columns FROM ectowatch_watchers WHERE table_name = 'owned'::regclass ORDER BY label;
-- Membership in the owning role is enough.
GRANT ectowatch_owner TO ectowatch_other;
SET ROLE ectowatch_other;
SELECT ectowatch_unwatch('owned_deleted');
RESET ROLE;

-- search_path cannot redirect what ectowatch_watch runs: a look-alike
-- function placed before pg_catalog is ignored.
CREATE SCHEMA evil;
CREATE FUNCTION evil.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.quote_literal(text) RETURNS text LANGUAGE sql AS $$SELECT '''hijacked'''$$;
REVOKE ectowatch_owner FROM ectowatch_other;
SET search_path = evil, ddl, public, pg_catalog;
SET ROLE ectowatch_other;
SELECT ectowatch_watch('ddl.owned', 'updated');
RESET ROLE;
SELECT ectowatch_watch('ddl.owned', 'updated');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_owned_updated';
-- An operator planted before pg_catalog does not capture a condition: the
-- trigger binds pg_catalog's "=" (printed qualified, since evil.= shadows it
-- in this session's path).
CREATE FUNCTION evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
SELECT ectowatch_watch('ddl.owned', 'updated', label => 'owned_secret', condition => $$NEW.secret = 'x'$$);
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'ectowatch_owned_secret';
SET search_path = ddl, public;

-- Nothing of ectowatch runs with other rights than the caller's, except the
-- drop handler, which only deletes catalog rows whose trigger is gone. Every
-- SQL function pins its search_path; the C functions look nothing up by name.
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND e.extname = 'ectowatch'
 ORDER BY p.proname;

-- Locks: creating a watcher takes SHARE ROW EXCLUSIVE on the table and honours lock_timeout.
BEGIN;
SELECT ectowatch_watch('owned', 'updated', label => 'owned_locks');
SELECT mode FROM pg_locks WHERE relation = 'owned'::regclass AND locktype = 'relation' AND granted ORDER BY mode;
ROLLBACK;
BEGIN;
SELECT ectowatch_unwatch('owned_updated');
SELECT mode FROM pg_locks WHERE relation = 'owned'::regclass AND locktype = 'relation' AND granted ORDER BY mode;
ROLLBACK;

SET client_min_messages = warning;
DROP SCHEMA ddl, moved, evil CASCADE;
DROP ROLE ectowatch_owner;
DROP ROLE ectowatch_other;
RESET client_min_messages;
SELECT count(*) AS watchers_left FROM ectowatch_watchers;

-- DROP EXTENSION refuses while watchers exist, and cleans up with CASCADE.
CREATE TABLE leftover (id int PRIMARY KEY);
SELECT ectowatch_watch('leftover', 'inserted');
DROP EXTENSION ectowatch;
SET client_min_messages = warning;
DROP EXTENSION ectowatch CASCADE;
RESET client_min_messages;
SELECT count(*) AS ectowatch_triggers FROM pg_trigger WHERE tgname LIKE 'ectowatch%';
INSERT INTO leftover VALUES (1);
DROP TABLE leftover;
CREATE EXTENSION ectowatch;
