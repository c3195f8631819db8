-- A trigger sends only for the watcher the catalog registers for its very
-- table and delivery (issue 14, "Authenticity"). A table owner who attaches
-- ectowatch_row_trigger by hand, with another watcher's label in the trigger
-- arguments, is refused (SQLSTATE 42501) instead of sending messages that
-- the other watcher's subscribers would take for genuine.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
RESET client_min_messages;
CREATE ROLE ectowatch_auth_victim;
CREATE ROLE ectowatch_auth_forger;
GRANT CREATE ON SCHEMA public TO ectowatch_auth_victim, ectowatch_auth_forger;
-- What the durable watchers send, read at the end.
SELECT 'created' FROM pg_create_logical_replication_slot('ectowatch_auth_test', 'ectowatch');

SET ROLE ectowatch_auth_victim;
CREATE TABLE auth_accounts (id int PRIMARY KEY);
SELECT ectowatch_watch('auth_accounts', 'inserted', label => 'auth_accounts_durable', delivery => 'durable');
SELECT ectowatch_watch('auth_accounts', 'updated', label => 'auth_accounts_updated');
RESET ROLE;

SET ROLE ectowatch_auth_forger;
CREATE TABLE auth_own (id int PRIMARY KEY);
INSERT INTO auth_own VALUES (0);
-- The arguments ectowatch_watch writes ('2', label, delivery, key count,
-- keys), naming the other role's durable watcher.
CREATE TRIGGER forged AFTER INSERT ON auth_own FOR EACH ROW
  EXECUTE FUNCTION ectowatch_row_trigger('2', 'auth_accounts_durable', 'durable', '1', 'id');
INSERT INTO auth_own VALUES (1);
DO $$
BEGIN
  INSERT INTO auth_own VALUES (2);
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'refused with SQLSTATE %', SQLSTATE;
END $$;
DROP TRIGGER forged ON auth_own;
-- The same label, this table but another delivery: still not that watcher.
CREATE TRIGGER forged AFTER UPDATE ON auth_own FOR EACH ROW
  EXECUTE FUNCTION ectowatch_row_trigger('2', 'auth_accounts_updated', 'durable', '1', 'id');
UPDATE auth_own SET id = 3;
DROP TRIGGER forged ON auth_own;
-- A label no watcher has: not a watcher, so it sends nothing (as any trigger
-- ectowatch_watch did not create); the write itself goes through.
CREATE TRIGGER unregistered AFTER INSERT ON auth_own FOR EACH ROW
  EXECUTE FUNCTION ectowatch_row_trigger('2', 'auth_nobody', 'notify', '1', 'id');
INSERT INTO auth_own VALUES (4);
SELECT count(*) AS rows_written FROM auth_own;
DROP TABLE auth_own;
RESET ROLE;

-- The watchers themselves are untouched and still send, also from a
-- partition of a watched partitioned table (its trigger is a clone, and the
-- catalog names the parent). Only their messages are in the slot.
INSERT INTO auth_accounts VALUES (1);
UPDATE auth_accounts SET id = 2;
CREATE TABLE auth_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE auth_parted_low PARTITION OF auth_parted FOR VALUES FROM (0) TO (100);
SELECT ectowatch_watch('auth_parted', 'inserted', label => 'auth_parted_inserted', delivery => 'durable');
INSERT INTO auth_parted_low VALUES (5);
SELECT data FROM pg_logical_slot_get_changes('ectowatch_auth_test', NULL, NULL) WHERE data <> '';
SELECT pg_drop_replication_slot('ectowatch_auth_test');

SET client_min_messages = warning;
DROP TABLE auth_accounts, auth_parted;
REVOKE CREATE ON SCHEMA public FROM ectowatch_auth_victim, ectowatch_auth_forger;
DROP ROLE ectowatch_auth_victim;
DROP ROLE ectowatch_auth_forger;
