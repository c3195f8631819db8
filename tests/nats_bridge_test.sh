#!/usr/bin/env bash
# `ectowatch bridge` against real NATS servers (scripts/lib/nats.sh: Debian's
# nats-server on private loopback ports) and the running test server
# (PGHOST/PGPORT/PGUSER/PGDATABASE, wal_level = logical, extension created).
# The stream is read back with tests/nats/nats_check (libnats), not a mock:
#   1. the bridge is killed with SIGKILL mid-stream and started again, once
#      with NATS up and once while NATS is down: every committed row is in the
#      stream exactly once (counted by Nats-Msg-Id); a --max-age JetStream
#      would refuse (below the duplicate window) is an error, exit 2;
#   2. nats-server is killed and restarted mid-stream: nothing lost, nothing twice;
#   3. hostile key values (. * > spaces, ~, non-ASCII, empty) and a composite
#      key round-trip through the subject tokens;
#   4. a Key subscription (a consumer whose filter is one key's subject) gets
#      only that key's rows, filtered by the server (its delivered count);
#   then a stream deleted under the running bridge: said once (log and
#      --stats waiting_for), nothing confirmed, rows published once it is back;
#   5. a 3-node JetStream cluster, stream of 3 replicas: the stream leader is
#      killed mid-stream and a durable consumer still gets every row.
# Usage: tests/nats_bridge_test.sh path/to/ectowatch path/to/nats_check
set -uo pipefail

cli="$1"
nats_check="$2"
work="$(mktemp -d)"
cd "$(dirname "$0")/.."
source tests/lib/check.sh
source scripts/lib/nats.sh
previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"; '"${previous_trap:-:}" EXIT

start_bridge() { # start_bridge NAME ARGS...: in the background, its pid in $bridge_pid, output in $work/NAME.*
  local name=$1
  shift
  "$cli" bridge --ack-timeout 1 --stats --stats-interval 1 "$@" >"$work/$name.stdout" 2>"$work/$name.err" &
  bridge_pid=$!
}
wait_for_slot() { # until the slot exists (rows committed before it would not be recorded)
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'")" = 1 ] && return 0
    sleep 0.1
  done
  echo "FAIL: slot $1 was not created"
  cat "$work"/*.err
  return 1
}
stop_bridge() { # stop_bridge NAME: SIGTERM, which must end it with 0
  kill -TERM "$bridge_pid"
  wait "$bridge_pid"
  check "$1: the bridge exits 0 on SIGTERM" "0" "$?"
}
# insert_slowly TABLE FROM TO: one transaction per 100 rows, ~20 ms apart.
insert_slowly() {
  local table=$1 from=$2 to=$3 start
  for ((start = from; start <= to; start += 100)); do
    echo "INSERT INTO $table SELECT g, 'row ' || g FROM generate_series($start, $((start + 99 < to ? start + 99 : to))) g;"
    echo "SELECT pg_sleep(0.02);"
  done | psql -X -q -o /dev/null -v ON_ERROR_STOP=1
}
# stream_rows FILE: the row messages' "<id> <Nats-Msg-Id>" lines (resync messages left out).
rows_of() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "id" in m and "row" in m["payload"]:
        print(m["payload"]["row"]["id"], m["id"])' "$1"; }
# exactly_once NAME TABLE FILE: every row of TABLE once, and each Nats-Msg-Id once.
exactly_once() {
  local name=$1 table=$2 file=$3
  rows_of "$file" >"$work/rows"
  sql "SELECT id FROM $table ORDER BY id" >"$work/committed"
  check "$name: every committed row is in the stream" "" \
    "$(cut -d' ' -f1 "$work/rows" | sort -u | comm -23 <(sort "$work/committed") - | head -5)"
  check "$name: no row twice (by Nats-Msg-Id)" "0" "$(cut -d' ' -f2 "$work/rows" | sort | uniq -d | wc -l)"
  check "$name: as many messages as rows" "$(wc -l <"$work/committed")" "$(wc -l <"$work/rows")"
  echo "$name: $(wc -l <"$work/committed") rows committed, $(wc -l <"$work/rows") row messages in the stream"
}

start_nats

# --- 1. SIGKILL of the bridge mid-stream --------------------------------------
sql "DROP TABLE IF EXISTS nb_orders, nb_keys, nb_pairs CASCADE"
sql "CREATE TABLE nb_orders (id int PRIMARY KEY, note text)"
"$cli" watch nb_orders inserted --delivery durable >/dev/null
start_bridge kill1 --slot nb_kill --nats "$NATS_URL" --stream NB_KILL --prefix nbk nb_orders_inserted
wait_for_slot nb_kill
insert_slowly nb_orders 1 20000 &
inserts=$!
sleep 1.5
kill -9 "$bridge_pid"
wait "$bridge_pid" 2>/dev/null
start_bridge kill2 --slot nb_kill --nats "$NATS_URL" --stream NB_KILL --prefix nbk nb_orders_inserted
wait "$inserts"
# Again with NATS down when the bridge is killed: what it published meanwhile
# sat in libnats' reconnect buffer, unacknowledged, so it must not have been
# confirmed (a bridge that confirms before the acks loses those rows here).
insert_slowly nb_orders 20001 30000 &
inserts=$!
sleep 1
kill_nats
sleep 1.5
kill -9 "$bridge_pid"
wait "$bridge_pid" 2>/dev/null
start_nats_single
start_bridge kill3 --slot nb_kill --nats "$NATS_URL" --stream NB_KILL --prefix nbk nb_orders_inserted
wait "$inserts"
"$nats_check" read "$NATS_URL" NB_KILL reader 'nbk.>' nbk 30001 60 >"$work/kill.out" # 30 000 rows and the resync
stop_bridge "SIGKILL"
"$nats_check" read "$NATS_URL" NB_KILL reader 'nbk.>' nbk 0 10 >>"$work/kill.out" # anything more would be a duplicate
exactly_once "SIGKILL of the bridge" nb_orders "$work/kill.out"
echo "restarted bridges' last counters: $(grep '^{' "$work/kill2.err" | tail -1) $(grep '^{' "$work/kill3.err" | tail -1)"
check "the first bridge created the stream" "1" "$(grep -c 'created stream NB_KILL' "$work/kill1.err")"
check "the slot_created resync is in the stream" "1" "$(grep -c '"reason":"slot_created"' "$work/kill.out")"

# A --max-age below the duplicate window (120 s at least) makes a stream
# JetStream refuses: the bridge says so and exits 2 at once, instead of
# retrying to create it for ever (found by tests/differential/run --nats).
timeout 30 "$cli" bridge --slot nb_max_age --nats "$NATS_URL" --stream NB_MAX_AGE --prefix nbm --max-age 3 \
  nb_orders_inserted >"$work/max_age.out" 2>&1
check "--max-age 3 (below --duplicate-window): exit 2" "2" "$?"
check "--max-age 3: the error names both options" "1" "$(grep -c -- '--max-age 3 is shorter than --duplicate-window 120' "$work/max_age.out")"
check "--max-age 3: no slot left behind" "0" "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'nb_max_age'")"

# --- 2. NATS restart mid-stream -------------------------------------------------
sql "TRUNCATE nb_orders"
start_bridge restart --slot nb_restart --nats "$NATS_URL" --stream NB_RESTART --prefix nbr nb_orders_inserted
wait_for_slot nb_restart
insert_slowly nb_orders 1 20000 &
inserts=$!
sleep 1.5
restart_nats -9
wait "$inserts"
"$nats_check" read "$NATS_URL" NB_RESTART reader 'nbr.nb_orders_inserted.*' nbr 20000 60 >"$work/restart.out"
stop_bridge "NATS restart"
"$nats_check" read "$NATS_URL" NB_RESTART reader 'nbr.nb_orders_inserted.*' nbr 0 10 >>"$work/restart.out"
exactly_once "nats-server SIGKILL and restart" nb_orders "$work/restart.out"
echo "bridge's last counters: $(grep '^{' "$work/restart.err" | tail -1)"
check "the bridge saw NATS go away" "1" "$(grep -c -m1 'NATS disconnected' "$work/restart.err")"
sql "SELECT pg_drop_replication_slot('nb_kill')" >/dev/null

# --- 3 and 4. Hostile keys, a composite key, a Key subscription ------------------
sql "CREATE TABLE nb_keys (k text PRIMARY KEY)"
sql "CREATE TABLE nb_pairs (region text, id int, PRIMARY KEY (region, id))"
"$cli" watch nb_keys inserted --delivery durable >/dev/null
"$cli" watch nb_pairs inserted --delivery durable >/dev/null
start_bridge keys --slot nb_restart --nats "$NATS_URL" --stream NB_RESTART --prefix nbr nb_keys_inserted nb_pairs_inserted
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO nb_keys VALUES (''), ('.'), ('*'), ('>'), ('a b'), ('a.b.c'), ('~'), ('~41'), ('~~'), ('Zürich'),
  ('日本 🎉'), (E'tab\there'), ('nbr.nb_keys_inserted.>'), ('$JS.API'), ('null'), ('-_'), ('"quoted"');
INSERT INTO nb_pairs SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us.west' END, g FROM generate_series(1, 500) g;
-- The key ('eu', 7) five times more (an insert watcher: delete and insert again).
DELETE FROM nb_pairs WHERE region = 'eu' AND id = 7;
INSERT INTO nb_pairs VALUES ('eu', 7); DELETE FROM nb_pairs WHERE region = 'eu' AND id = 7;
INSERT INTO nb_pairs VALUES ('eu', 7); DELETE FROM nb_pairs WHERE region = 'eu' AND id = 7;
INSERT INTO nb_pairs VALUES ('eu', 7); DELETE FROM nb_pairs WHERE region = 'eu' AND id = 7;
INSERT INTO nb_pairs VALUES ('eu', 7); DELETE FROM nb_pairs WHERE region = 'eu' AND id = 7;
INSERT INTO nb_pairs VALUES ('eu', 7);
SQL
"$nats_check" read "$NATS_URL" NB_RESTART keys 'nbr.nb_keys_inserted.*' nbr 17 30 >"$work/keys.out"
python3 - "$work/keys.out" >"$work/keys.check" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "id" in m:
        print("ok" if m["key"] == [m["payload"]["row"]["k"]] else "MISMATCH %r" % line)
PY
check "17 hostile keys published" "17" "$(grep -c . "$work/keys.check")"
check "hostile keys round-trip through their subject token" "" "$(grep -v '^ok$' "$work/keys.check")"
check "the keys as the table has them" "$(sql "SELECT count(*) FROM nb_keys")" \
  "$(python3 -c 'import json,sys; print(len({json.loads(l)["payload"]["row"]["k"] for l in open(sys.argv[1]) if "\"id\"" in l[:6]}))' "$work/keys.out")"
# A Key subscription: the consumer's filter is the key's exact subject ('us.west' would be us~2Ewest).
"$nats_check" read "$NATS_URL" NB_RESTART key_eu_7 'nbr.nb_pairs_inserted.eu.7' nbr 5 30 >"$work/key.out"
"$nats_check" read "$NATS_URL" NB_RESTART key_eu_7 'nbr.nb_pairs_inserted.eu.7' nbr 0 3 >>"$work/key.out"
check "a Key subscription gets its 5 rows" "5" "$(grep -c '"key":\["eu","7"\]' "$work/key.out")"
check "and nothing else" "5" "$(grep -c '"id"' "$work/key.out")"
check "the server delivered only those (consumer info)" "5" \
  "$(grep -o '"consumer_delivered":[0-9]*' "$work/key.out" | tail -1 | cut -d: -f2)"
"$nats_check" read "$NATS_URL" NB_RESTART pairs 'nbr.nb_pairs_inserted.>' nbr 505 30 >"$work/pairs.out"
check "composite keys are two tokens" "250" "$(grep -c '"subject":"nbr.nb_pairs_inserted.us~2Ewest.[0-9]*"' "$work/pairs.out")"
check "which decode to the region and the id" "250" "$(grep -c '"key":\["us.west","[0-9]*"\]' "$work/pairs.out")"
stop_bridge "keys"
# A clean stop says nothing of NATS going away, and --stats goes to stderr
# (as listen's): stdout carries nothing.
check "keys: a clean stop does not report a NATS disconnect" "0" "$(grep -c 'NATS disconnected' "$work/keys.err")"
check "keys: --stats lines are on stderr" "1" "$(grep -c -m1 '^{"published":' "$work/keys.err")"
check "keys: and stdout is empty" "" "$(cat "$work/keys.stdout")"
sql "SELECT pg_drop_replication_slot('nb_restart')" >/dev/null

# --- A durable watcher created while the bridge runs ---------------------------------
# Without a label list the bridge publishes it too; with one it says once that
# the watcher's rows are left out. Either way nothing is confirmed away unseen.
sql "DROP TABLE IF EXISTS nb_late"
sql "CREATE TABLE nb_late (id int PRIMARY KEY)"
start_bridge late --slot nb_late --nats "$NATS_URL" --stream NB_LATE --prefix nbl
wait_for_slot nb_late
late_pid=$bridge_pid
start_bridge late_listed --slot nb_late_listed --nats "$NATS_URL" --stream NB_LATE_LISTED --prefix nbll nb_keys_inserted
late_listed_pid=$bridge_pid
wait_for_slot nb_late_listed
"$cli" watch nb_late inserted --delivery durable >/dev/null
sql "INSERT INTO nb_late SELECT generate_series(1, 5)"
"$nats_check" read "$NATS_URL" NB_LATE late 'nbl.nb_late_inserted.*' nbl 5 30 >"$work/late.out"
check "late watcher: its 5 rows reach the stream" "1 2 3 4 5" "$(rows_of "$work/late.out" | cut -d' ' -f1 | sort -n | xargs)"
bridge_pid=$late_pid
stop_bridge "late"
check "late watcher: the bridge says it picked it up" "1" "$(grep -c 'bridging durable watcher "nb_late_inserted"' "$work/late.err")"
bridge_pid=$late_listed_pid
stop_bridge "late, label list"
check "late watcher outside the label list: said once" "1" \
  "$(grep -c 'durable watcher "nb_late_inserted" are not bridged' "$work/late_listed.err")"
"$cli" unwatch nb_late_inserted >/dev/null
sql "SELECT pg_drop_replication_slot('nb_late')" >/dev/null
sql "SELECT pg_drop_replication_slot('nb_late_listed')" >/dev/null

# --- Long keys: a subject beyond the server's control line --------------------------
# A 2,820-byte URL escapes to ~5,650 bytes and 450 CJK characters to 4,050:
# nats-server closes a connection that sends such a subject. Such values are
# hashed tokens (docs/protocol.md, format 2): the rows after them flow on,
# and a Key subscription of the long value still gets its row.
long_url="https://example.com/$(python3 -c 'print("/".join("segment-%04d~x" % i for i in range(200)))')"
long_url="${long_url:0:2820}"
cjk="$(python3 -c 'print("日本語" * 150)')"
sql "DROP TABLE IF EXISTS nb_long"
sql "CREATE TABLE nb_long (k text PRIMARY KEY)"
"$cli" watch nb_long inserted --delivery durable >/dev/null
start_bridge long --slot nb_long --nats "$NATS_URL" --stream NB_LONG --prefix nbg nb_long_inserted
wait_for_slot nb_long
# A Key subscriber of the CJK value, listening before the rows come (an
# ephemeral consumer reads new messages only).
"$cli" listen --nats "$NATS_URL" --stream NB_LONG --prefix nbg --keys --count 1 --timeout 60 \
  "nb_long_inserted:k=$cjk" >"$work/long_key.out" 2>"$work/long_key.err" &
long_listener=$!
# The key's and 3 event subjects': the filter_subjects of one consumer on NATS 2.10+, one consumer each on 2.9.
nats_version="$("$NATS_SERVER" --version | sed 's/^nats-server: v//')"
if [ "$(printf '%s\n' 2.10.0 "$nats_version" | sort -V | head -1)" = 2.10.0 ]; then long_consumers=1; else long_consumers=4; fi
for ((i = 0; i < 100; i++)); do
  [ "$(curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true" | python3 -c '
import json, sys
for account in json.load(sys.stdin).get("account_details", []):
    for stream in account.get("stream_detail", []):
        if stream["name"] == "NB_LONG":
            print(stream["state"].get("consumer_count", 0))')" -ge "$long_consumers" ] && break
  sleep 0.1
done
psql -X -q -v ON_ERROR_STOP=1 -v url="$long_url" -v cjk="$cjk" <<'SQL'
INSERT INTO nb_long VALUES (:'url');
INSERT INTO nb_long VALUES (:'cjk');
INSERT INTO nb_long SELECT 'after-' || g FROM generate_series(1, 100) g;
SQL
"$nats_check" read "$NATS_URL" NB_LONG long 'nbg.>' nbg 102 30 >"$work/long.out"
check "long keys: both long rows and the 100 after them are in the stream" "102" "$(grep -c '"row":' "$work/long.out")"
check "long keys: the URL's token is ~h and its SHA-256" \
  "nbg.nb_long_inserted.~h$(printf '%s' "$long_url" | sha256sum | cut -c1-64)" \
  "$(grep -F "\"k\":\"${long_url:0:40}" "$work/long.out" | grep -o '"subject":"[^"]*"' | cut -d'"' -f4)"
wait "$long_listener"
check "long keys: the Key subscriber of the CJK value exits 0 (--count 1 reached)" "0" "$?"
check "long keys: and got that row" "$cjk" \
  "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["row"]["k"])' "$work/long_key.out" 2>&1)"
stop_bridge "long keys"
check "long keys: the bridge never lost NATS" "0" "$(grep -c 'NATS disconnected' "$work/long.err")"
"$cli" unwatch nb_long_inserted >/dev/null
sql "SELECT pg_drop_replication_slot('nb_long')" >/dev/null

# --- Two prefixes in one stream: Nats-Msg-Id names its source ------------------------
# The same row bridged twice (two slots, two prefixes) has one LSN and row
# index: with ids of <lsn>-<row> alone JetStream kept one copy. The id now
# starts with the database's source (system identifier, timeline, database)
# and the prefix (docs/protocol.md). A stream that also takes another
# prefix is refused unless --shared-stream says it is meant.
"$nats_check" stream "$NATS_URL" NB_SHARED 'nbs1.>' 'nbs2.>'
"$cli" bridge --slot nb_shared1 --nats "$NATS_URL" --stream NB_SHARED --prefix nbs1 nb_orders_inserted \
  >/dev/null 2>"$work/shared_refused.err"
check "shared stream: refused without --shared-stream (exit 1)" "1" "$?"
check "shared stream: saying which subjects and what to do" "1" \
  "$(grep -c 'also takes nbs2.> .*--shared-stream' "$work/shared_refused.err")"
sql "SELECT pg_drop_replication_slot('nb_shared1') FROM pg_replication_slots WHERE slot_name = 'nb_shared1'" >/dev/null
start_bridge shared1 --slot nb_shared1 --nats "$NATS_URL" --stream NB_SHARED --prefix nbs1 --shared-stream nb_orders_inserted
shared1_pid=$bridge_pid
wait_for_slot nb_shared1
start_bridge shared2 --slot nb_shared2 --nats "$NATS_URL" --stream NB_SHARED --prefix nbs2 --shared-stream nb_orders_inserted
wait_for_slot nb_shared2
sql "TRUNCATE nb_orders"
sql "INSERT INTO nb_orders SELECT g, 'shared ' || g FROM generate_series(1, 50) g"
"$nats_check" read "$NATS_URL" NB_SHARED s1 'nbs1.nb_orders_inserted.*' nbs1 50 30 >"$work/shared1.out"
"$nats_check" read "$NATS_URL" NB_SHARED s2 'nbs2.nb_orders_inserted.*' nbs2 50 30 >"$work/shared2.out"
check "shared stream: prefix nbs1 has the 50 rows" "50" "$(rows_of "$work/shared1.out" | wc -l)"
check "shared stream: prefix nbs2 has them too (none taken for a duplicate)" "50" "$(rows_of "$work/shared2.out" | wc -l)"
source_id="$(sql "SELECT s.system_identifier || '-' || ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int || '-' || d.oid FROM pg_control_system() s, pg_database d WHERE d.datname = current_database()")"
check "shared stream: ids are <system id>-<timeline>-<database oid>-<prefix>-<lsn>-<row>" "50" \
  "$(rows_of "$work/shared2.out" | cut -d' ' -f2 | grep -c "^$source_id-nbs2-[0-9A-F]*/[0-9A-F]*-[0-9]*$")"
stop_bridge "shared2"
bridge_pid=$shared1_pid
stop_bridge "shared1"
sql "SELECT pg_drop_replication_slot('nb_shared1')" >/dev/null
sql "SELECT pg_drop_replication_slot('nb_shared2')" >/dev/null

# --- The stream deleted under a running bridge ---------------------------------------
# JetStream then answers every publish with "no responders": the bridge says
# once what it waits for (log and --stats), keeps the rows unconfirmed, does
# not create the stream again itself, and publishes them once it exists.
start_bridge deleted --slot nb_deleted --nats "$NATS_URL" --stream NB_DELETED --prefix nbd nb_orders_inserted
wait_for_slot nb_deleted
sql "TRUNCATE nb_orders"
sql "INSERT INTO nb_orders VALUES (1, 'before')"
"$nats_check" read "$NATS_URL" NB_DELETED d1 'nbd.nb_orders_inserted.*' nbd 1 30 >"$work/deleted1.out"
check "deleted stream: the row before is in the stream" "1" "$(rows_of "$work/deleted1.out" | wc -l)"
"$nats_check" delete-stream "$NATS_URL" NB_DELETED
sql "INSERT INTO nb_orders SELECT g, 'meanwhile ' || g FROM generate_series(2, 11) g"
after_meanwhile="$(sql "SELECT pg_current_wal_lsn()")" # past the commit's end
for ((i = 0; i < 300; i++)); do
  grep -q '"waiting_for":"stream NB_DELETED missing"' "$work/deleted.err" && break
  sleep 0.1
done
check "deleted stream: --stats says what the bridge waits for" "1" \
  "$(grep -c -m1 '"waiting_for":"stream NB_DELETED missing"' "$work/deleted.err")"
sleep 3 # more retries: the log still says it once
check "deleted stream: the log says it once, with what to do" "1" \
  "$(grep -c 'stream NB_DELETED no longer exists (deleted?): waiting for it to be created again' "$work/deleted.err")"
check "deleted stream: the slot is not confirmed past the rows meanwhile" "t" \
  "$(sql "SELECT confirmed_flush_lsn < '$after_meanwhile' FROM pg_replication_slots WHERE slot_name = 'nb_deleted'")"
"$nats_check" stream "$NATS_URL" NB_DELETED 'nbd.>'
"$nats_check" read "$NATS_URL" NB_DELETED d2 'nbd.nb_orders_inserted.*' nbd 10 30 >"$work/deleted2.out"
check "deleted stream: the 10 rows meanwhile reach the stream created again" "10" "$(rows_of "$work/deleted2.out" | wc -l)"
check "deleted stream: and the log says it is back" "1" "$(grep -c 'stream NB_DELETED exists again' "$work/deleted.err")"
stop_bridge "deleted stream"
sql "SELECT pg_drop_replication_slot('nb_deleted')" >/dev/null
stop_nats

# --- 5. A 3-node cluster, the stream leader killed mid-stream ----------------------
start_nats_cluster || { echo "FAIL: the NATS cluster did not start"; exit 1; }
sql "TRUNCATE nb_orders"
start_bridge cluster --slot nb_cluster --nats "$NATS_URLS" --stream NB_CLUSTER --prefix nbc --replicas 3 nb_orders_inserted
wait_for_slot nb_cluster
"$nats_check" create "$NATS_URLS" NB_CLUSTER durable 'nbc.nb_orders_inserted.*' >/dev/null ||
  { echo "FAIL: no consumer on the cluster"; cat "$work/cluster.err"; }
"$nats_check" read "$NATS_URLS" NB_CLUSTER durable 'nbc.nb_orders_inserted.*' nbc 10000 90 >"$work/cluster.out" &
reader=$!
insert_slowly nb_orders 1 10000 &
inserts=$!
sleep 1.5
leader="$(curl -s "http://127.0.0.1:${NATS_NODE_MONITOR_PORT[1]}/jsz?streams=true" | python3 -c '
import json, sys
for account in json.load(sys.stdin).get("account_details", []):
    for stream in account.get("stream_detail", []):
        if stream["name"] == "NB_CLUSTER":
            print(stream["cluster"]["leader"])')"
leader="${leader:-n1}"
echo "killing the stream leader $leader"
kill_nats_node "${leader#n}"
wait "$inserts"
wait "$reader"
rows_of "$work/cluster.out" | cut -d' ' -f1 | sort -u >"$work/cluster.ids"
sql "SELECT id FROM nb_orders" | sort >"$work/committed"
check "cluster: every row delivered to the durable consumer" "" "$(comm -23 "$work/committed" "$work/cluster.ids" | head -5)"
check "cluster: 10000 rows committed" "10000" "$(wc -l <"$work/committed")"
echo "cluster: $(grep -c '"id"' "$work/cluster.out") messages delivered for $(wc -l <"$work/cluster.ids") rows"
stop_bridge "cluster"
sql "SELECT pg_drop_replication_slot('nb_cluster')" >/dev/null
"$cli" unwatch nb_orders_inserted >/dev/null
"$cli" unwatch nb_keys_inserted >/dev/null
"$cli" unwatch nb_pairs_inserted >/dev/null

echo "nats bridge: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
