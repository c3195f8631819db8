-- Tables for bench/run section 8 (the editions): run in a database with the
-- native edition and in one with the portable edition. The SQL API is the
-- same, so one file makes both. The same shape and rows as setup.sql's tables.
SET client_min_messages = warning;

-- (b) An EctoWatch-style trigger: an AFTER ROW PL/pgSQL trigger calling
-- pg_notify per row with a JSON of the table, the op and the key.
CREATE OR REPLACE FUNCTION ed_ectowatch_style() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0],
    json_build_object('table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'op', TG_ARGV[1],
                      'key', json_build_object('id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END))::text);
  RETURN NULL;
END $$;

DO $$
DECLARE
  variant text;
BEGIN
  FOREACH variant IN ARRAY ARRAY['none', 'plpgsql', 'watched', 'durable'] LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I', 'ed_' || variant);
    EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, v int NOT NULL DEFAULT 0)', 'ed_' || variant);
    EXECUTE format('INSERT INTO %I (v) SELECT 0 FROM generate_series(1, 10000)', 'ed_' || variant);
  END LOOP;
END $$;

CREATE TRIGGER ew_style_ins AFTER INSERT ON ed_plpgsql FOR EACH ROW EXECUTE FUNCTION ed_ectowatch_style('ed_plpgsql', 'inserted');
CREATE TRIGGER ew_style_upd AFTER UPDATE ON ed_plpgsql FOR EACH ROW EXECUTE FUNCTION ed_ectowatch_style('ed_plpgsql', 'updated');
CREATE TRIGGER ew_style_del AFTER DELETE ON ed_plpgsql FOR EACH ROW EXECUTE FUNCTION ed_ectowatch_style('ed_plpgsql', 'deleted');
SELECT ectowatch_watch('ed_watched', 'inserted');
SELECT ectowatch_watch('ed_watched', 'updated');
SELECT ectowatch_watch('ed_watched', 'deleted');
SELECT ectowatch_watch('ed_durable', 'inserted', delivery => 'durable');
SELECT ectowatch_watch('ed_durable', 'updated', delivery => 'durable');
SELECT ectowatch_watch('ed_durable', 'deleted', delivery => 'durable');
VACUUM ANALYZE;
