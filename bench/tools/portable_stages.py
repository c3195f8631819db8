"""Writes the portable edition's trigger function with early exits, for
bench/run section 8 ("where the time goes"): with the setting
bench.stage = N the trigger returns at stage N, so the latency of
each stage, measured in one pgbench run, says what each part costs.
  1  after reading its arguments (the function's call and SET clauses)
  2  after ectowatch_message_prefix (the catalog check and the message's start)
  3  after ectowatch_render_sql (the SQL that renders the rows)
  4  after running it over the rows and packing them (no message sent)
Usage: portable_stages.py SCRIPT > staged.sql (SCRIPT: the edition for psql -f).
Fails when the trigger no longer has a place named here: update this list."""
import sys

script = open(sys.argv[1]).read()
start = script.index("CREATE OR REPLACE FUNCTION public.ectowatch_row_trigger()")
end = script.index("\n$$;\n", start) + len("\n$$;\n")
function = script[start:end]
anchors = [
    (1, "    -- ectowatch.enabled = off (SET LOCAL, say) suppresses, as natively.\n"),
    (2, "    -- Room kept for the trailer, as kTrailerReserve (message_packer.hpp).\n"),
    (3, "    FOR r IN EXECUTE CASE\n"),
    (4, "    IF row_count > 0 OR dropped > 0 THEN\n"),
]
for stage, anchor in anchors:
    if function.count(anchor) != 1:
        sys.exit("portable_stages.py: the trigger function has no single line %r (stage %d)" % (anchor, stage))
    exit_line = "    IF current_setting('bench.stage', true) = '%d' THEN RETURN NULL; END IF;\n" % stage
    function = function.replace(anchor, exit_line + anchor)
print(function)
