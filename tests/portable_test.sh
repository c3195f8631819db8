#!/usr/bin/env bash
# The portable edition (PL/pgSQL, generated from sql/ with edition=portable):
#   1. beside the native edition on this machine's server: the same statements
#      send byte-identical notifications in both (randomized values and sizes,
#      every value type, packing, truncated, dropped, TRUNCATE, composite keys,
#      partitions, trigger_columns, condition; printed seed,
#      PORTABLE_TEST_SEED repeats one); `ectowatch install --portable` refuses
#      a database with the native edition, and a server with its library,
#      pointing to CREATE EXTENSION;
#   2. on a server with no ectowatch files (scripts/lib/plain_server.sh), as a
#      role with only LOGIN, REPLICATION and its own database:
#      `ectowatch install --portable`, a notify watcher read by `ectowatch
#      listen`, relay refused, a multi-row statement packed and truncated, a
#      durable watcher read through pgoutput across a SIGKILL of its listener
#      (every committed row, by a query of the table, printed with its exact
#      text; none of rolled-back work), a dropped table's watchers, and an
#      install run again (the upgrade) keeping every watcher.
# Usage: tests/portable_test.sh path/to/ectowatch (the CLI's build directory
# also holds portable/ectowatch-portable--VERSION.sql, the file for psql -f).
# PORTABLE_TEST_ON_SERVER=1 runs part 1 alone, on the server PGHOST names (a
# superuser's, with the native edition installed: scripts/test-versions runs
# it so on every server version).
set -uo pipefail

cli="$(realpath "$1")"
cd "$(dirname "$0")/.."
version="$(sed -n "s/^default_version = '\([0-9.]*\)'.*/\1/p" ectowatch.control)"
script="$(dirname "$cli")/portable/ectowatch-portable--$version.sql"
source tests/lib/check.sh
source scripts/lib/cluster.sh
work="$(mktemp -d)"
seed="${PORTABLE_TEST_SEED:-$RANDOM$RANDOM}"
echo "portable_test: seed $seed (PORTABLE_TEST_SEED=$seed repeats this run)"

# Notifications a psql session received, without the sender's PID.
notifications() { grep '^Asynchronous notification' "$1" | sed 's/ received from server process with PID [0-9]*\.$//'; }

# --- 1. beside the native edition ----------------------------------------------
on_server="${PORTABLE_TEST_ON_SERVER:-0}"
if [ "$on_server" = 1 ]; then
  trap 'for db in native_db portable_db empty_db; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"; done; rm -rf "$work"' EXIT
  sql "SELECT 'server ' || current_setting('server_version')"
else
  start_cluster "wal_level = logical" || exit 1
  trap 'stop_cluster; rm -rf "$work"' EXIT
fi
sql "CREATE DATABASE native_db"
sql "CREATE DATABASE portable_db"
sql "CREATE DATABASE empty_db"
PGDATABASE=native_db sql "CREATE EXTENSION ectowatch"
check "the file for psql -f installs the portable edition" "0" \
  "$(PGDATABASE=portable_db psql -X -q -v ON_ERROR_STOP=1 -f "$script" >"$work/psql_f.out" 2>&1; echo $?)"
check "with no C function" "0" \
  "$(PGDATABASE=portable_db sql "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                                  WHERE p.proname LIKE 'ectowatch%' AND l.lanname = 'c'")"
python3 tests/portable/differential.py "$seed" 400 >"$work/differential.sql"
for db in native_db portable_db; do
  PGDATABASE=$db psql -X -q -f "$work/differential.sql" >"$work/$db.out" 2>"$work/$db.err"
  # Per channel, in the order sent: watchers are separate channels, and the
  # editions order different watchers' messages of one statement differently.
  notifications "$work/$db.out" | sort -s -t' ' -k3,3 >"$work/$db.sent"
done
check "the differential statements ran without an error" "0 0" \
  "$(grep -c ERROR "$work/native_db.err") $(grep -c ERROR "$work/portable_db.err")"
check "they sent notifications" "yes" "$([ "$(wc -l <"$work/native_db.sent")" -gt 100 ] && echo yes)"
check "packed, truncated, dropped and truncated tables among them" "yes" \
  "$(grep -q '"truncated":true' "$work/native_db.sent" && grep -q '"dropped":' "$work/native_db.sent" &&
    grep -q '"op":"truncated"' "$work/native_db.sent" && grep -q '},{' "$work/native_db.sent" && echo yes)"
if cmp -s "$work/native_db.sent" "$work/portable_db.sent"; then
  check "both editions sent the same bytes" "same" "same"
else
  check "both editions sent the same bytes" "same" \
    "$(diff "$work/native_db.sent" "$work/portable_db.sent" | head -4 | cut -c1-400)"
fi

PGDATABASE=native_db "$cli" install --portable >"$work/out" 2>"$work/err"
check "install --portable where the native edition is installed exits 1" "1" "$?"
check "and says so" "1" "$(grep -c 'the native edition of ectowatch is installed in this database' "$work/err" || cat "$work/err")"
PGDATABASE=empty_db "$cli" install --portable >"$work/out" 2>"$work/err"
check "install --portable on a server with the library exits 1" "1" "$?"
check "and points to CREATE EXTENSION" "1" "$(grep -c 'run CREATE EXTENSION ectowatch; in this database instead' "$work/err" || cat "$work/err")"
check "and installed nothing" "0" "$(PGDATABASE=empty_db sql "SELECT count(*) FROM pg_proc WHERE proname LIKE 'ectowatch%'")"
PGDATABASE=native_db psql -X -q -v ON_ERROR_STOP=1 -f "$script" >"$work/out" 2>"$work/err"
check "the script itself refuses a database with the native edition" "1" \
  "$(grep -c 'the native edition is installed in this database' "$work/err" || cat "$work/err")"
if [ "$on_server" = 1 ]; then
  echo "portable_test (part 1, on the server): $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi
stop_cluster

# --- 2. on a server with no ectowatch files ----------------------------------------
source scripts/lib/plain_server.sh
start_plain_server || exit 1
previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"; '"${previous_trap:-:}" EXIT
export PGUSER="$PLAIN_APP" PGDATABASE="$PLAIN_APP_DB"
check "the server has no ectowatch" "1" \
  "$(psql -X -q -c 'CREATE EXTENSION ectowatch' 2>&1 | grep -c 'extension "ectowatch" is not available')"
check "the role is no superuser" "f" "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"

check "install --portable as the application's role" "installed the portable edition of ectowatch $version in schema public" \
  "$("$cli" install --portable --dsn "$PLAIN_APP_DSN" 2>&1)"
sql "CREATE SCHEMA other"
"$cli" install --portable --schema other >"$work/out" 2>"$work/err"
check "a second copy in another schema is refused" "1" \
  "$(grep -c 'already installed in schema public, not in other' "$work/err" || cat "$work/err")"
"$cli" install --portable --schema "no'pe" >"$work/out" 2>"$work/err"
check "a schema name with a quote is refused (exit 2)" "2" "$?"

# A notify watcher, read by ectowatch listen.
sql "CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)"
check "ectowatch watch" "items_inserted" "$("$cli" watch items inserted --extra-columns note)"
"$cli" listen --count 3 --timeout 20 items_inserted >"$work/listen.out" 2>"$work/listen.err" &
listener=$!
wait_for_listeners 1
sql "INSERT INTO items VALUES (1, 'one'), (2, 'two \"quoted\"')"
sql "BEGIN; INSERT INTO items VALUES (3, 'rolled back'); ROLLBACK"
sql "INSERT INTO items VALUES (4, 'four')"
wait $listener
check "ectowatch listen prints each committed row" \
  '{"label":"items_inserted","table":"public.items","op":"inserted","row":{"id":1,"note":"one"}}
{"label":"items_inserted","table":"public.items","op":"inserted","row":{"id":2,"note":"two \"quoted\""}}
{"label":"items_inserted","table":"public.items","op":"inserted","row":{"id":4,"note":"four"}}' "$(cat "$work/listen.out")"

"$cli" watch items updated --delivery relay >"$work/out" 2>"$work/err"
check "relay delivery is refused" "1" "$?"
check "saying it needs the native library's background worker" "1" \
  "$(grep -c "relay delivery needs the native edition's background worker" "$work/err" || cat "$work/err")"

# One statement of 300 rows: packed into few messages, all rows there; a row
# too big for a message arrives with its key only, flagged.
psql -X -q >"$work/packed.out" 2>&1 <<'SQL'
LISTEN items_inserted;
INSERT INTO items SELECT g, 'row ' || g FROM generate_series(100, 399) g;
INSERT INTO items VALUES (400, repeat('x', 9000)), (401, 'small');
SQL
notifications "$work/packed.out" | sed 's/^[^{]*//; s/"$//' >"$work/packed.json"
check "300 rows of one statement in 2 messages, then the big one's" "3" "$(wc -l <"$work/packed.json")"
check "every row arrived once" "$(seq 100 401)" \
  "$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    for r in json.loads(l)["rows"]: print(r["id"])' "$work/packed.json" | sort -n)"
check "the big row lost its note and the message says truncated" '[{"id":400},{"id":401,"note":"small"}] True' \
  "$(tail -1 "$work/packed.json" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(json.dumps(m["rows"], separators=(",",":")), m.get("truncated"))')"

# --- a durable watcher through pgoutput, its listener killed with SIGKILL ---------
sql "CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL)"
check "a durable watcher" "orders_inserted" "$("$cli" watch orders inserted --extra-columns note --delivery durable)"
"$cli" listen --slot po_kill --timeout 0.5 orders_inserted >/dev/null 2>&1 # creates the slot
check "the slot is pgoutput's" "pgoutput" "$(sql "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'po_kill'")"
# Transactions of 1-4 statements of 1-20 rows, notes of 0-6000 characters
# (some escaped, some too big: truncated), a fifth rolled back, some in
# rolled-back savepoints.
python3 - "$seed" >"$work/load.sql" <<'PY'
import random, sys
rnd = random.Random(int(sys.argv[1]))
next_id = 1000
for t in range(rnd.randint(300, 600)):
    lines = ["BEGIN;"]
    for _ in range(rnd.randint(1, 4)):
        rows = []
        for _ in range(rnd.choice([1, 1, 3, 20])):
            size = rnd.choice([0, rnd.randint(1, 80), rnd.randint(80, 9000)])
            note = "".join(rnd.choice('abcdefgh "\\/\u00e9\t') for _ in range(size)).replace("'", "''")
            rows.append(f"({next_id}, E'{note.replace(chr(92), chr(92) * 2)}')")
            next_id += 1
        insert = "INSERT INTO orders VALUES " + ", ".join(rows) + ";"
        lines += ["SAVEPOINT s;", insert, "ROLLBACK TO s;"] if rnd.random() < 0.1 else [insert]
    lines.append("ROLLBACK;" if rnd.random() < 0.2 else "COMMIT;")
    print("\n".join(lines))
    if t % 40 == 0:
        print("SELECT pg_sleep(0.05);")
PY
ids_in() { grep -ho '"row":{"id":[0-9]*' "$@" | grep -o '[0-9]*$' | sort -n; }
wait_for_rows() { # wait_for_rows COUNT FILES...: until that many distinct ids were printed (60 s at most)
  local want=$1 i
  shift
  for ((i = 0; i < 600; i++)); do
    [ "$(ids_in "$@" | uniq | wc -l)" -ge "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
"$cli" listen --slot po_kill orders_inserted >"$work/killed" 2>"$work/killed.err" &
listener=$!
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f "$work/load.sql" &
load=$!
wait_for_rows 200 "$work/killed"
kill -9 $listener
wait $listener 2>/dev/null
killed_at=$(ids_in "$work/killed" | uniq | wc -l)
wait $load
check "the randomized load committed" "0" "$?"
"$cli" listen --slot po_kill orders_inserted >"$work/resumed" 2>"$work/resumed.err" &
listener=$!
committed=$(sql "SELECT count(*) FROM orders")
wait_for_rows "$committed" "$work/killed" "$work/resumed"
kill -TERM $listener
wait $listener
check "the restarted listener exits 0 on SIGTERM" "0" "$?"
# The oracle is the table itself: every committed row, with its note when
# the row fits a message, its key alone (flagged truncated) when it does not.
sql "SELECT json_build_object('id', id, 'note', note)::text FROM orders" >"$work/committed.json"
python3 - "$work/committed.json" "$work/killed" "$work/resumed" >"$work/compare" <<'PY'
import json, sys
committed = {r["id"]: r["note"] for r in map(json.loads, open(sys.argv[1]))}
printed, wrong, truncated = {}, 0, 0
for name in sys.argv[2:]:
    for line in open(name):
        event = json.loads(line)
        row = event.get("row")
        if row is None:
            continue
        note = row.get("note")
        if note is None:
            truncated += 1
            if len(json.dumps(committed.get(row["id"], ""), ensure_ascii=False).encode()) < 7000:
                wrong += 1
        if row["id"] in printed and printed[row["id"]] != note:
            wrong += 1
        printed[row["id"]] = note
missing = sorted(set(committed) - set(printed))
extra = sorted(set(printed) - set(committed))
wrong += sum(1 for i in committed if printed.get(i, committed[i]) not in (committed[i], None))
print(f"missing {missing[:5]} extra {extra[:5]} wrong {wrong} truncated {'some' if truncated else 'none'}")
PY
check "SIGKILL: every committed row printed with its text, none of rolled-back work" \
  "missing [] extra [] wrong 0 truncated some" "$(cat "$work/compare")"
echo "SIGKILL: $committed rows committed, killed after $killed_at printed," \
  "$(($(ids_in "$work/killed" "$work/resumed" | wc -l) - $(ids_in "$work/killed" "$work/resumed" | uniq | wc -l))) printed twice"

# --- dropped tables, and the install run again ---------------------------------
sql "CREATE TABLE doomed (id int PRIMARY KEY)"
"$cli" watch doomed deleted >/dev/null
sql "DROP TABLE doomed"
check "a dropped table's watcher is no longer listed" "0" "$(sql "SELECT count(*) FROM ectowatch_watchers WHERE label = 'doomed_deleted'")"
check "and its label is free again" "doomed_deleted" \
  "$(sql "CREATE TABLE doomed (id int PRIMARY KEY)"; "$cli" watch doomed deleted 2>&1)"
"$cli" watch items updated --trigger-columns note --condition 'NEW.id > 0' >/dev/null
"$cli" watchers >"$work/watchers.before"
check "upgrade: install run again" "upgraded the portable edition of ectowatch in schema public from $version to $version; every watcher kept" \
  "$("$cli" install --portable 2>&1)"
"$cli" watchers >"$work/watchers.after"
check "every watcher kept, unchanged" "$(cat "$work/watchers.before")" "$(cat "$work/watchers.after")"
psql -X -q >"$work/after.out" 2>&1 <<'SQL'
LISTEN items_inserted;
LISTEN items_updated;
INSERT INTO items VALUES (500, 'after the upgrade');
UPDATE items SET note = 'changed' WHERE id = 500;
UPDATE items SET note = note WHERE id = 500;
SQL
check "and they still send" \
  'Asynchronous notification "items_inserted" with payload "{"v":1,"op":"inserted","table":"public.items","label":"items_inserted","key":["id"],"rows":[{"id":500,"note":"after the upgrade"}]}"
Asynchronous notification "items_updated" with payload "{"v":1,"op":"updated","table":"public.items","label":"items_updated","key":["id"],"rows":[{"id":500}]}"' \
  "$(notifications "$work/after.out")"
sql "CREATE OR REPLACE FUNCTION ectowatch_portable_version() RETURNS text LANGUAGE sql AS \$\$ SELECT '99.0.0'::text \$\$"
"$cli" install --portable >"$work/out" 2>"$work/err"
check "an older script does not downgrade a newer edition" "1" \
  "$(grep -c 'the portable edition 99.0.0 is installed, newer than' "$work/err" || cat "$work/err")"
check_no_crash

echo "portable_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
