\echo Use "CREATE EXTENSION ectowatch_bench" to load this file. \quit
-- The floor of any row trigger.
CREATE FUNCTION bench_noop_trigger() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'bench_noop_trigger';
-- The floor of a NOTIFY-per-row design: Async_Notify(TG_ARGV[0], {"type":TG_ARGV[1],"values":{"id":<first column>}}).
CREATE FUNCTION bench_notify_trigger() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'bench_notify_trigger';
