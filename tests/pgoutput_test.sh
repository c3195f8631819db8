#!/usr/bin/env bash
# Durable delivery through the built-in pgoutput, on a server with no ectowatch
# files (scripts/lib/plain_server.sh: like a managed service, where ectowatch's
# output plugin cannot be loaded), as a role with only LOGIN, REPLICATION and
# its own database. The portable edition is not needed here: a PL/pgSQL
# trigger writes what it writes, pg_logical_emit_message(true, 'ectowatch',
# <v1 text in the native edition's form>), and a table stands in for its
# ectowatch_watchers catalog. Checked with `ectowatch listen --slot` and
# `ectowatch bridge` (both the C++ client's Durable source):
#   1. a new slot is pgoutput's, with the empty publication; committed messages
#      arrive, nothing of rolled-back work, other prefixes or non-transactional
#      messages;
#   2. randomized transactions (printed seed; PGOUTPUT_TEST_SEED repeats one),
#      the listener killed with SIGKILL mid-stream and restarted: every
#      committed row printed with its exact text, no rolled-back one;
#   3. the bridge publishes from a pgoutput slot into NATS, every row once;
#   4. clients creating the publication at the same moment all start;
#   5. a slot of another plugin, a role that may not create the publication and
#      a non-UTF8 database are refused, saying why.
# Usage: tests/pgoutput_test.sh path/to/ectowatch path/to/nats_check
set -uo pipefail

cli="$(realpath "$1")"
nats_check="$(realpath "$2")"
cd "$(dirname "$0")/.."
source tests/lib/check.sh
source scripts/lib/plain_server.sh
source scripts/lib/nats.sh
start_plain_server || exit 1
work="$(mktemp -d)"
previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"; '"${previous_trap:-:}" EXIT
export PGUSER="$PLAIN_APP" PGDATABASE="$PLAIN_APP_DB"

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

check "the server has no ectowatch" "1" \
  "$(psql -X -q -c 'CREATE EXTENSION ectowatch' 2>&1 | grep -c 'extension "ectowatch" is not available')"
check "the role is no superuser" "f" "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"

# What the portable edition provides, as far as the client reads it: the
# catalog, and a trigger writing each row's v1 message in the WAL.
sql "CREATE TABLE ectowatch_watchers (label text, table_name regclass, op text, channel text, key_columns text[],
       extra_columns text[], trigger_columns text[], condition text, replicated bool, delivery text)"
sql "CREATE TABLE po_orders (id int PRIMARY KEY, note text NOT NULL)"
sql "INSERT INTO ectowatch_watchers VALUES
       ('po_orders_inserted', 'po_orders', 'inserted', 'po_orders_inserted', '{id}', '{note}', NULL, NULL, false, 'durable')"
sql "CREATE FUNCTION po_orders_message() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN
       PERFORM pg_logical_emit_message(true, 'ectowatch',
         '{\"v\":1,\"op\":\"inserted\",\"table\":\"public.po_orders\",\"label\":\"po_orders_inserted\",\"key\":[\"id\"],'
         || '\"rows\":[{\"id\":' || NEW.id || ',\"note\":' || to_json(NEW.note)::text || '}]}');
       RETURN NULL;
     END \$\$"
sql "CREATE TRIGGER po_orders_message AFTER INSERT ON po_orders FOR EACH ROW EXECUTE FUNCTION po_orders_message()"
row() { echo '{"label":"po_orders_inserted","table":"public.po_orders","op":"inserted","row":{"id":'"$1"',"note":"'"$2"'"}}'; }

# --- 1. a new slot, and what it delivers ------------------------------------
check "a new slot prints a resync" '{"event":"resync"}' "$("$cli" listen --slot po_a --timeout 1 po_orders_inserted)"
check "the slot is pgoutput's" "pgoutput" "$(sql "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'po_a'")"
check "the publication was created, empty" "ectowatch_messages 0" \
  "$(sql "SELECT pubname || ' ' || (SELECT count(*) FROM pg_publication_tables) FROM pg_publication")"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO po_orders VALUES (1, 'one');
BEGIN; INSERT INTO po_orders VALUES (2, 'rolled back'); ROLLBACK;
BEGIN;
INSERT INTO po_orders VALUES (3, 'three');
SAVEPOINT s; INSERT INTO po_orders VALUES (4, 'savepoint rolled back'); ROLLBACK TO s;
SELECT pg_logical_emit_message(true, 'ectowatch_relay', '{"v":1,"op":"inserted","table":"public.po_orders","label":"po_orders_inserted","key":["id"],"rows":[{"id":900002,"note":"relay prefix"}]}');
SELECT pg_logical_emit_message(true, 'other', '{"v":1,"op":"inserted","table":"public.po_orders","label":"po_orders_inserted","key":["id"],"rows":[{"id":900003,"note":"other prefix"}]}');
INSERT INTO po_orders VALUES (5, 'five');
COMMIT;
-- non-transactional: sent even when its transaction rolls back
BEGIN;
SELECT pg_logical_emit_message(false, 'ectowatch', '{"v":1,"op":"inserted","table":"public.po_orders","label":"po_orders_inserted","key":["id"],"rows":[{"id":900001,"note":"not transactional"}]}');
ROLLBACK;
-- a transaction with another prefix only, then ours again
SELECT pg_logical_emit_message(true, 'other', 'x');
INSERT INTO po_orders VALUES (6, 'six');
SQL
"$cli" listen --slot po_a --timeout 3 po_orders_inserted >"$work/a.out" 2>"$work/a.err"
check "committed rows in commit order, nothing else" "$(row 1 one; row 3 three; row 5 five; row 6 six)" "$(cat "$work/a.out")"
check "a slot made with SQL, pgoutput's, is read as such" "$(row 1 one)" \
  "$(sql "SELECT 1 FROM pg_create_logical_replication_slot('po_sql', 'pgoutput', false)" >/dev/null
    sql "INSERT INTO po_orders VALUES (7, 'seven')"
    "$cli" listen --slot po_sql --count 1 --timeout 10 po_orders_inserted | sed 's/"id":7,"note":"seven"/"id":1,"note":"one"/')"
sql "SELECT pg_drop_replication_slot('po_sql')" >/dev/null
check "the next listener of po_a starts after what was confirmed" "$(row 7 seven)" \
  "$("$cli" listen --slot po_a --count 1 --timeout 10 po_orders_inserted)"

# --- 2. randomized transactions, SIGKILL of the listener mid-stream ----------
seed="${PGOUTPUT_TEST_SEED:-$RANDOM$RANDOM}"
echo "pgoutput_test: seed $seed (PGOUTPUT_TEST_SEED=$seed repeats this run)"
sql "TRUNCATE po_orders"
# Transactions of 1-5 rows, notes of 0-6000 characters (some escaped), a fifth
# rolled back, some rows in rolled-back savepoints, other prefixes between.
python3 - "$seed" >"$work/load.sql" <<'PY'
import random, sys
rnd = random.Random(int(sys.argv[1]))
next_id = 1000
transactions = rnd.randint(600, 1200)
for t in range(transactions):
    lines = ["BEGIN;"]
    for _ in range(rnd.randint(1, 5)):
        size = rnd.choice([0, rnd.randint(1, 80), rnd.randint(80, 6000)])
        note = "".join(rnd.choice('abcdefgh "\\/\u00e9\t') for _ in range(size)).replace("'", "''")
        insert = f"INSERT INTO po_orders VALUES ({next_id}, E'{note.replace(chr(92), chr(92) * 2)}');"
        next_id += 1
        if rnd.random() < 0.1:
            lines += ["SAVEPOINT s;", insert, "ROLLBACK TO s;"]
        else:
            lines.append(insert)
        if rnd.random() < 0.1:
            lines.append("SELECT pg_logical_emit_message(true, 'ectowatch_other', 'not ours');")
    lines.append("ROLLBACK;" if rnd.random() < 0.2 else "COMMIT;")
    print("\n".join(lines))
    if t % 40 == 0:
        print("SELECT pg_sleep(0.05);")
PY
"$cli" listen --slot po_kill --timeout 0.5 po_orders_inserted >/dev/null # creates the slot
"$cli" listen --slot po_kill po_orders_inserted >"$work/killed" 2>"$work/killed.err" &
listener=$!
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f "$work/load.sql" &
load=$!
wait_for_rows 200 "$work/killed"
kill -9 $listener
wait $listener 2>/dev/null
killed_at=$(ids_in "$work/killed" | uniq | wc -l)
wait $load
check "the randomized load committed" "0" "$?"
"$cli" listen --slot po_kill po_orders_inserted >"$work/resumed" 2>"$work/resumed.err" &
listener=$!
committed=$(sql "SELECT count(*) FROM po_orders")
wait_for_rows "$committed" "$work/killed" "$work/resumed"
kill -TERM $listener
wait $listener
check "the restarted listener exits 0 on SIGTERM" "0" "$?"
# Every committed row, with exactly its text; no row of rolled-back work.
sql "SELECT json_build_object('id', id, 'note', note)::text FROM po_orders" >"$work/committed.json"
python3 - "$work/committed.json" "$work/killed" "$work/resumed" >"$work/compare" <<'PY'
import json, sys
committed = {r["id"]: r["note"] for r in map(json.loads, open(sys.argv[1]))}
printed, wrong = {}, 0
for name in sys.argv[2:]:
    for line in open(name):
        row = json.loads(line).get("row")
        if row is None:
            continue
        if row["id"] in printed and printed[row["id"]] != row["note"]:
            wrong += 1
        printed[row["id"]] = row["note"]
missing = sorted(set(committed) - set(printed))
extra = sorted(set(printed) - set(committed))
wrong += sum(1 for i in committed if i in printed and printed[i] != committed[i])
print(f"missing {missing[:5]} extra {extra[:5]} wrong {wrong}")
PY
check "SIGKILL: every committed row printed with its text, none of rolled-back work" \
  "missing [] extra [] wrong 0" "$(cat "$work/compare")"
echo "SIGKILL: $committed rows committed, killed after $killed_at printed," \
  "$(($(ids_in "$work/killed" "$work/resumed" | wc -l) - $(ids_in "$work/killed" "$work/resumed" | uniq | wc -l))) printed twice"

# --- 3. the bridge from a pgoutput slot -------------------------------------
start_nats
sql "TRUNCATE po_orders"
"$cli" bridge --ack-timeout 1 --slot po_bridge --nats "$NATS_URL" --stream PO --prefix po po_orders_inserted \
  >"$work/bridge.out" 2>"$work/bridge.err" &
bridge=$!
for ((i = 0; i < 300; i++)); do
  [ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'po_bridge'")" = 1 ] && break
  sleep 0.1
done
check "the bridge's slot is pgoutput's" "pgoutput" \
  "$(sql "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'po_bridge'")"
sql "INSERT INTO po_orders SELECT g, 'bridged ' || g FROM generate_series(1, 300) g"
sql "BEGIN; INSERT INTO po_orders VALUES (301, 'rolled back'); ROLLBACK" 2>/dev/null
"$nats_check" read "$NATS_URL" PO reader 'po.>' po 301 60 >"$work/bridge.nats" # 300 rows and the resync
kill -TERM $bridge
wait $bridge
check "the bridge exits 0 on SIGTERM" "0" "$?"
check "the bridge published every row once, with its text" "$(seq 1 300 | sed 's/.*/& bridged &/')" \
  "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "row" in m.get("payload", {}):
        print(m["payload"]["row"]["id"], m["payload"]["row"]["note"])' "$work/bridge.nats" | sort -n)"
check "and the slot_created resync" "1" "$(grep -c '"reason":"slot_created"' "$work/bridge.nats")"

# --- 4. clients creating the publication at the same moment -----------------
sql "DROP PUBLICATION ectowatch_messages"
pids=()
for n in 1 2 3 4; do
  "$cli" listen --slot "po_race_$n" --timeout 1 po_orders_inserted >"$work/race$n.out" 2>"$work/race$n.err" &
  pids+=($!)
done
statuses=""
for pid in "${pids[@]}"; do
  wait "$pid"
  statuses+="$? "
done
check "four clients creating the publication at once all start" "0 0 0 0 " "$statuses"
check "one publication" "1" "$(sql "SELECT count(*) FROM pg_publication WHERE pubname = 'ectowatch_messages'")"

# --- 5. refusals ----------------------------------------------------------------
sql "SELECT 1 FROM pg_create_logical_replication_slot('po_td', 'test_decoding')" >/dev/null
"$cli" listen --slot po_td --timeout 1 po_orders_inserted 2>"$work/err"
check "a slot of another plugin exits 1" "1" "$?"
check "and says why" "1" "$(grep -c 'exists for plugin test_decoding in database app_db, not for ectowatch or pgoutput' "$work/err" || cat "$work/err")"
# A role that may not create the publication (no CREATE on the database) is told what to do.
sql "DROP PUBLICATION ectowatch_messages"
PGUSER=postgres sql "CREATE ROLE po_reader LOGIN REPLICATION"
sql "GRANT SELECT ON ectowatch_watchers TO po_reader"
PGUSER=po_reader "$cli" listen --slot po_reader --timeout 1 po_orders_inserted 2>"$work/err"
check "a role without CREATE on the database exits 1" "1" "$?"
check "and is told how to get the publication" "1" \
  "$(grep -c 'have its owner run CREATE PUBLICATION ectowatch_messages once' "$work/err" || cat "$work/err")"
check "and no slot was left behind" "0" "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'po_reader'")"
PGUSER=postgres sql "CREATE DATABASE po_latin1 OWNER $PLAIN_APP ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
PGDATABASE=po_latin1 sql "CREATE TABLE ectowatch_watchers AS SELECT * FROM (VALUES ('po_orders_inserted', 'pg_class'::regclass,
  'inserted', 'po_orders_inserted', '{id}'::text[], '{}'::text[], NULL::text[], NULL::text, false, 'durable')) v
  (label, table_name, op, channel, key_columns, extra_columns, trigger_columns, condition, replicated, delivery)"
PGDATABASE=po_latin1 "$cli" listen --slot po_l --timeout 1 po_orders_inserted 2>"$work/err"
check "a LATIN1 database exits 1" "1" "$?"
check "and says pgoutput needs UTF8" "1" "$(grep -c 'durable delivery through pgoutput needs a UTF8 database' "$work/err" || cat "$work/err")"

echo "pgoutput_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
