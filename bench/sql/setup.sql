-- Tables and triggers for the write-path benchmark: one table per variant,
-- the same shape, the same rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ectowatch;
CREATE EXTENSION IF NOT EXISTS ectowatch_bench;

-- (b) What EctoWatch installs: an AFTER ROW PL/pgSQL trigger calling pg_notify.
CREATE OR REPLACE FUNCTION bench_ectowatch_style() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0],
    jsonb_build_object('type', TG_ARGV[1], 'values', json_build_object('id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END))::text);
  RETURN NULL;
END $$;

DO $$
DECLARE
  variant text;
BEGIN
  FOREACH variant IN ARRAY ARRAY['none', 'plpgsql', 'ectowatch', 'cnotify', 'cnoop', 'cstmt', 'durable', 'relay'] LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I', 'bench_' || variant);
    EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, v int NOT NULL DEFAULT 0)', 'bench_' || variant);
    EXECUTE format('INSERT INTO %I (v) SELECT 0 FROM generate_series(1, 10000)', 'bench_' || variant);
  END LOOP;
END $$;

CREATE TRIGGER ew_style_ins AFTER INSERT ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION bench_ectowatch_style('bench_plpgsql', 'inserted');
CREATE TRIGGER ew_style_upd AFTER UPDATE ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION bench_ectowatch_style('bench_plpgsql', 'updated');
CREATE TRIGGER ew_style_del AFTER DELETE ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION bench_ectowatch_style('bench_plpgsql', 'deleted');
SELECT ectowatch_watch('bench_ectowatch', 'inserted');
SELECT ectowatch_watch('bench_ectowatch', 'updated');
SELECT ectowatch_watch('bench_ectowatch', 'deleted');
-- (f) The same watchers, durable: WAL messages instead of NOTIFY.
SELECT ectowatch_watch('bench_durable', 'inserted', delivery => 'durable');
SELECT ectowatch_watch('bench_durable', 'updated', delivery => 'durable');
SELECT ectowatch_watch('bench_durable', 'deleted', delivery => 'durable');

-- (g) bench_relay and bench_relay_latency get relayed watchers in section 5 of
-- bench/run, which starts the relay worker first.
DROP TABLE IF EXISTS bench_relay_latency;
CREATE TABLE bench_relay_latency (id bigint PRIMARY KEY);

DROP TABLE IF EXISTS bench_latency;
CREATE TABLE bench_latency (id bigint PRIMARY KEY);
SELECT ectowatch_watch('bench_latency', 'inserted');
CREATE TRIGGER c_notify_ins AFTER INSERT ON bench_cnotify FOR EACH ROW EXECUTE FUNCTION bench_notify_trigger('bench_cnotify', 'inserted');
CREATE TRIGGER c_notify_upd AFTER UPDATE ON bench_cnotify FOR EACH ROW EXECUTE FUNCTION bench_notify_trigger('bench_cnotify', 'updated');
CREATE TRIGGER c_noop_ins AFTER INSERT ON bench_cnoop FOR EACH ROW EXECUTE FUNCTION bench_noop_trigger();
CREATE TRIGGER c_noop_upd AFTER UPDATE ON bench_cnoop FOR EACH ROW EXECUTE FUNCTION bench_noop_trigger();
CREATE TRIGGER c_noop_del AFTER DELETE ON bench_cnoop FOR EACH ROW EXECUTE FUNCTION bench_noop_trigger();
-- (h) The floor of a statement trigger over a transition table (the form of
-- ectowatch's DELETE watchers): PostgreSQL fetches each deleted row once and
-- keeps a copy in a tuplestore.
CREATE TRIGGER c_stmt_ins AFTER INSERT ON bench_cstmt REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger();
CREATE TRIGGER c_stmt_upd AFTER UPDATE ON bench_cstmt REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger();
CREATE TRIGGER c_stmt_del AFTER DELETE ON bench_cstmt REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger();
VACUUM ANALYZE;
