#!/usr/bin/env bash
# Durable delivery through `ectowatch listen --slot` against the running test
# server (PGHOST/PGPORT/PGUSER/PGDATABASE, wal_level = logical): the listener
# is killed with SIGKILL mid-stream and the server is restarted while rows are
# committed; every committed row must be printed at least once. Duplicates
# are counted and reported. Also: slots, drop-slot, and the errors of --slot.
# Usage: tests/durable_cli_test.sh path/to/ectowatch   (ECTOWATCH_TEST_RESTART restarts the server)
set -uo pipefail

cli="$1"
work="$(mktemp -d)"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

source "$(dirname "$0")/lib/check.sh"
ids_in() { grep -ho '"row":{"id":[0-9]*' "$@" | grep -o '[0-9]*$' | sort -n; }
# insert_each FROM TO: one transaction per row, from one psql session per 100
# rows; rows whose session loses the server are simply not committed.
insert_each() {
  local from=$1 to=$2 start
  for ((start = from; start <= to; start += 100)); do
    seq "$start" $((start + 99 < to ? start + 99 : to)) | sed 's/.*/INSERT INTO dur_orders VALUES (&);/' |
      psql -X -q -o /dev/null 2>/dev/null || true
  done
}
# wait_for_rows COUNT FILES...: until that many distinct ids were printed (30 s at most).
wait_for_rows() {
  local want=$1 i
  shift
  for ((i = 0; i < 300; i++)); do
    [ "$(ids_in "$@" | uniq | wc -l)" -ge "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
# report NAME FILES...: every committed row printed; duplicates counted.
report() {
  local name=$1
  shift
  sql "SELECT id FROM dur_orders ORDER BY id" >"$work/committed"
  ids_in "$@" >"$work/printed"
  check "$name: every committed row printed" "" "$(sort -n -u "$work/printed" | comm -23 "$work/committed" - | head -5)"
  echo "$name: $(wc -l <"$work/committed") rows committed, $(($(wc -l <"$work/printed") - $(sort -u "$work/printed" | wc -l))) printed twice"
}

sql "DROP TABLE IF EXISTS dur_orders CASCADE"
sql "CREATE TABLE dur_orders (id int PRIMARY KEY)"
check "watch --delivery durable" "dur_orders_inserted" "$("$cli" watch dur_orders inserted --delivery durable)"
"$cli" watch dur_orders deleted >/dev/null

# What --slot requires.
"$cli" listen --timeout 1 dur_orders_inserted 2>"$work/err"
check "a durable label without --slot exits 1" "1" "$?"
check "and says to pass one" "1" "$(grep -c 'pass --slot NAME' "$work/err")"
"$cli" listen --slot dur_a --timeout 1 dur_orders_deleted 2>"$work/err"
check "--slot with a notify label exits 1" "1" "$?"
check "and says why" "1" "$(grep -c 'delivers by notify' "$work/err")"
"$cli" listen --slot Bad-Name --timeout 1 dur_orders_inserted 2>"$work/err"
check "a bad slot name exits 1" "1" "$?"
check "and says what a name is" "1" "$(grep -c 'lower-case letters' "$work/err")"
# A mis-quoted output_plugin_libraries (one quoted entry that names no
# library) looks right in postgresql.conf: the error shows the value the
# server read. (Only on builds with that setting: Debian's.)
if [ -n "$(sql "SELECT current_setting('output_plugin_libraries', true)")" ]; then
  sql "ALTER SYSTEM SET output_plugin_libraries = '\"pgoutput, test_decoding, ectowatch\"'"
  sql "SELECT pg_reload_conf()" >/dev/null
  for ((i = 0; i < 100; i++)); do # the reload reaches new sessions a moment later
    [ "$(sql "SHOW output_plugin_libraries")" != "pgoutput, test_decoding, ectowatch" ] && break
    sleep 0.1
  done
  "$cli" listen --slot dur_refused --timeout 1 dur_orders_inserted 2>"$work/err"
  check "a plugin the server may not load exits 1" "1" "$?"
  check "and the error shows the setting as the server read it" "1" \
    "$(grep -cF 'output_plugin_libraries is now: """pgoutput, test_decoding, ectowatch"""' "$work/err")"
  sql "ALTER SYSTEM RESET output_plugin_libraries"
  sql "SELECT pg_reload_conf()" >/dev/null
fi

# A new slot resyncs once; later listeners resume where it stopped.
check "a new slot prints a resync" '{"event":"resync"}' "$("$cli" listen --slot dur_a --timeout 0.5 dur_orders_inserted)"
check "slots lists it" "1" "$("$cli" slots | grep -c '^dur_a  *no  *[0-9A-F]*/[0-9A-F]*  *reserved')"
sql "INSERT INTO dur_orders VALUES (1), (2)"
sql "INSERT INTO dur_orders VALUES (3)"
check "--count prints the transaction that reaches it, whole" \
'{"label":"dur_orders_inserted","table":"public.dur_orders","op":"inserted","row":{"id":1}}
{"label":"dur_orders_inserted","table":"public.dur_orders","op":"inserted","row":{"id":2}}' \
  "$("$cli" listen --slot dur_a --count 1 --timeout 10 dur_orders_inserted)"
check "the next listener starts after it" '{"label":"dur_orders_inserted","table":"public.dur_orders","op":"inserted","row":{"id":3}}' \
  "$("$cli" listen --slot dur_a --count 1 --timeout 10 dur_orders_inserted)"
check "drop-slot" "dropped dur_a" "$("$cli" drop-slot dur_a)"
"$cli" drop-slot dur_a 2>/dev/null
check "drop-slot of a missing slot exits 1" "1" "$?"
sql "TRUNCATE dur_orders"

# SIGKILL mid-stream, rows committed while it is down, then started again.
"$cli" listen --slot dur_kill --timeout 0.2 dur_orders_inserted >/dev/null # creates the slot
"$cli" listen --slot dur_kill dur_orders_inserted >"$work/killed" 2>"$work/killed.err" &
listener=$!
insert_each 1 2000 &
writer=$!
wait_for_rows 300 "$work/killed"
kill -9 $listener
wait $listener 2>/dev/null
wait $writer
insert_each 2001 2500 # while no listener runs
"$cli" listen --slot dur_kill dur_orders_inserted >"$work/resumed" 2>"$work/resumed.err" &
listener=$!
wait_for_rows 2500 "$work/killed" "$work/resumed"
kill -TERM $listener
wait $listener
check "the listener restarted after SIGKILL exits 0 on SIGTERM" "0" "$?"
check "it printed no resync (the slot existed)" "0" "$(grep -c resync "$work/resumed")"
report "SIGKILL" "$work/killed" "$work/resumed"

# A server restart while rows are committed: the listener reconnects and resumes.
if [ -n "${ECTOWATCH_TEST_RESTART:-}" ]; then
  sql "TRUNCATE dur_orders"
  "$cli" listen --slot dur_kill dur_orders_inserted >"$work/restart" 2>"$work/restart.err" &
  listener=$!
  insert_each 1 2000 &
  writer=$!
  wait_for_rows 300 "$work/restart"
  bash -c "$ECTOWATCH_TEST_RESTART"
  wait $writer
  insert_each 2001 2200
  wait_for_rows "$(sql "SELECT count(*) FROM dur_orders")" "$work/restart"
  kill -TERM $listener
  wait $listener
  check "the listener survives a server restart" "0" "$?"
  check "and printed no resync" "0" "$(grep -c resync "$work/restart")"
  report "server restart" "$work/restart"
fi

# A slot's plugin must read the database's edition. pgoutput would pass the
# native edition's signed messages on undecodable:
sql "SELECT 1 FROM pg_create_logical_replication_slot('dur_pgoutput', 'pgoutput')" >/dev/null
"$cli" listen --slot dur_pgoutput --timeout 1 dur_orders_inserted 2>"$work/err"
check "a pgoutput slot where the native edition is installed exits 1" "1" "$?"
check "and says why" "1" "$(grep -c 'is of the pgoutput plugin, which cannot read the native edition' "$work/err")"
sql "SELECT pg_drop_replication_slot('dur_pgoutput')" >/dev/null
# A database with the portable edition (PL/pgSQL only: a stand-in here, its
# catalog and function name) on this server, which has the native library: a
# new slot is pgoutput's, and one of ectowatch's plugin, which would leave the
# unsigned messages out, is refused.
sql "DROP DATABASE IF EXISTS dur_portable"
sql "CREATE DATABASE dur_portable"
PGDATABASE=dur_portable sql "CREATE TABLE ectowatch_watchers AS SELECT * FROM (VALUES ('p_inserted', 'pg_class'::regclass,
  'inserted', 'p_inserted', '{oid}'::text[], '{}'::text[], NULL::text[], NULL::text, false, 'durable')) v
  (label, table_name, op, channel, key_columns, extra_columns, trigger_columns, condition, replicated, delivery);
  CREATE FUNCTION ectowatch_watch() RETURNS void LANGUAGE plpgsql AS 'BEGIN END'"
check "the portable edition's new slot resyncs" '{"event":"resync"}' \
  "$(PGDATABASE=dur_portable "$cli" listen --slot dur_portable_new --timeout 0.5 p_inserted)"
check "and is pgoutput's" "pgoutput" "$(sql "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'dur_portable_new'")"
PGDATABASE=dur_portable sql "SELECT 1 FROM pg_create_logical_replication_slot('dur_portable_old', 'ectowatch')" >/dev/null
PGDATABASE=dur_portable "$cli" listen --slot dur_portable_old --timeout 1 p_inserted 2>"$work/err"
check "an ectowatch-plugin slot where the portable edition is installed exits 1" "1" "$?"
check "and says why" "1" "$(grep -c 'is of the ectowatch plugin, which cannot read the portable edition' "$work/err")"
sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'dur_portable%'" >/dev/null
sql "DROP DATABASE dur_portable"

"$cli" drop-slot dur_kill >/dev/null
sql "DROP TABLE dur_orders CASCADE"
echo "durable cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
