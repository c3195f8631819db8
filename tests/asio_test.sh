#!/usr/bin/env bash
# examples/asio_listener.cpp (an Asio loop whose only timer comes from
# Client::next_timeout()) against the running test server: rows committed
# while its connection is terminated twice all arrive. A loop that learns of
# the lost connection only at its own timer (1 s in the issue's report, 15 s
# by the old header) misses the rows committed meanwhile.
# Usage: tests/asio_test.sh path/to/asio_listener
set -uo pipefail

listener="$1"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

source "$(dirname "$0")/lib/check.sh"

sql "DROP TABLE IF EXISTS asio_rows CASCADE"
sql "CREATE TABLE asio_rows (id int PRIMARY KEY)"
sql "SELECT ectowatch_watch('asio_rows', 'inserted')" >/dev/null

rows=30
"$listener" asio_rows_inserted "$rows" >"$work/out" 2>"$work/err" &
listener_pid=$!
for _ in $(seq 300); do grep -q ready "$work/err" && break; sleep 0.1; done
terminate() {
  sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ectowatch_asio'"
}
# One row every 50 ms; the listener's backend is terminated after rows 10
# and 20, and the next row is committed 300 ms later.
for id in $(seq "$rows"); do
  sql "INSERT INTO asio_rows VALUES ($id)"
  case $id in
    10 | 20) check "terminated the listener's backend (row $id)" "1" "$(terminate)"; sleep 0.3 ;;
    *) sleep 0.05 ;;
  esac
done
for _ in $(seq 100); do [ "$(wc -l <"$work/out")" -ge "$rows" ] && break; sleep 0.1; done
check "every row arrived, in order" "$(seq "$rows" | sed 's/.*/{"id":&}/')" "$(cat "$work/out")"
# A listener that lost rows never reaches its count: stop it, so the test ends.
kill -0 "$listener_pid" 2>/dev/null && { sleep 1; kill "$listener_pid" 2>/dev/null; }
wait "$listener_pid"
check "the listener exits 0 after its rows" "0" "$?"
check "two reconnects, a resync each" "2" "$(grep -c '^resync: reconnected$' "$work/err")"
[ "$failed" -eq 0 ] || { echo "---- the listener's stderr"; cat "$work/err"; }
echo "asio: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
