-- For scale in bench/run section 8 ("where the time goes"): what a watcher's
-- trigger written for one table and watcher costs, with static SQL (its plan
-- cached for the session), no catalog check, no rendering SQL to build, no
-- packing rule. It sends the message the portable edition sends for one row.
CREATE TABLE ed_static (id bigserial PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO ed_static (v) SELECT 0 FROM generate_series(1, 10000);
CREATE FUNCTION ed_static_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  body text;
BEGIN
  SELECT string_agg('{"id":' || to_json(n.id)::text || '}', ',') INTO body FROM ed_static_new n;
  PERFORM pg_notify('ed_static_inserted', '{"v":1,"op":"inserted","table":"public.ed_static",'
                    '"label":"ed_static_inserted","key":["id"],"rows":[' || body || ']}');
  RETURN NULL;
END $$;
CREATE TRIGGER ed_static_inserted AFTER INSERT ON ed_static REFERENCING NEW TABLE AS ed_static_new
  FOR EACH STATEMENT EXECUTE FUNCTION ed_static_inserted();
VACUUM ANALYZE ed_static;
