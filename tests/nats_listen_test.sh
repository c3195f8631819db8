#!/bin/bash
# `ectowatch listen --nats`: the client's NatsSource reading what `ectowatch
# bridge` published, against a real nats-server (scripts/lib/nats.sh) and the
# running test server (PGHOST/PGPORT/PGUSER/PGDATABASE, wal_level = logical,
# extension created). No mock: the reference is `listen --slot` on PostgreSQL.
#   a. a durable consumer (--consumer) prints every committed row exactly as
#      `listen --slot` prints it (random values, seed printed), across a
#      restart of the listen process mid-stream (it resumes: nothing lost);
#   b. a Key subscription (--keys) prints only its key's rows, and the
#      server's consumer delivered only those (filtered by the server); an
#      (ephemeral) ColumnFilter listener gets its rows, filtered in the client;
#   c. a resync when the durable consumer is created, none when it resumes,
#      and one when the stream (--max-msgs 5) no longer holds what it had not
#      acknowledged;
#   d. nats-server killed and restarted mid-stream: the durable listener gets
#      every row, is told the connection went, and an ephemeral one resyncs;
#   f. a durable listener that is connected but stalled (its output blocked)
#      while a small stream (--max-msgs 200) rolls past it resyncs aged_out;
#   g. an ephemeral listener whose output is blocked holds no more than its
#      --max-buffered-bytes (peak RSS), then says it dropped and resyncs;
#   h. the stream deleted under a connected durable listener: an error
#      saying so and a resync (the health-check interval, 15 s);
#   i. a listener of a label and two keys (six filter subjects): one consumer
#      with filter_subjects on NATS 2.10+, six (one per subject) before, for a
#      durable and an ephemeral listener; every row of those subjects and none
#      of another key or label, on both; the durable one resumes on its
#      consumer after a SIGKILL;
#   j. a durable consumer of the per-subject layout (an earlier version, or a
#      server before 2.10) holding rows nobody read: a new listener reads them
#      through it, nothing lost, nothing twice, no second consumer;
#   k. a durable listener killed while the server waits for its acks; the
#      stream's limits remove those messages before the server would send them
#      again: the next listener on the consumer resyncs aged_out;
#   l. a durable listener whose callbacks (its output, held) take longer than
#      its consumer's ack wait (2 s here): in-progress acks keep the server from
#      sending anything again; every row once;
#   m. a durable listener with --load: every changed key's row loaded from
#      PostgreSQL, the last line per key equal to the table (the oracle),
#      and after a SIGTERM nothing printed again (acknowledged once loaded).
# Usage: tests/nats_listen_test.sh path/to/ectowatch   (NL_SEED=N repeats a run)
set -uo pipefail

cli="$1"
work="$(mktemp -d)"
cd "$(dirname "$0")/.."
source tests/lib/check.sh
source scripts/lib/nats.sh
previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap 'kill -9 $(jobs -p) 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; '"${previous_trap:-:}" EXIT

seed="${NL_SEED:-$RANDOM}"
echo "work dir $work"; echo "nats listen: seed $seed (NL_SEED=$seed repeats this run)"

start_bridge() { # start_bridge NAME ARGS...: in the background, its pid in bridge_pid[NAME]
  local name=$1
  shift
  "$cli" bridge --ack-timeout 1 "$@" >"$work/$name.bridge.out" 2>"$work/$name.bridge.err" &
  bridge_pid[$name]=$!
}
declare -A bridge_pid listen_pid
stop_bridge() {
  local rc
  kill -TERM "${bridge_pid[$1]}"
  wait "${bridge_pid[$1]}"
  rc=$?
  check "$1: the bridge exits 0 on SIGTERM" "0" "$rc"
  [ "$rc" = 0 ] || sed "s/^/  $1 bridge: /" "$work/$1.bridge.err" | tail -5
}
wait_for() { # wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  echo "FAIL: $what (waited $seconds s)"
  failed=$((failed + 1))
  return 1
}
slot_exists() { [ "$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'")" = 1 ]; }
stream_exists() { curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true" | grep -q "\"name\": *\"$1\""; }
# listen_nats NAME ARGS...: `listen --nats` in the background, output in $work/NAME.out.
listen_nats() {
  local name=$1
  shift
  "$cli" listen --nats "$NATS_URL" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  listen_pid[$name]=$!
}
stop_listen() { # SIGTERM: it acknowledges what it printed and exits 0
  kill -TERM "${listen_pid[$1]}"
  wait "${listen_pid[$1]}"
  check "$1: listen --nats exits 0 on SIGTERM" "0" "$?"
}
has_rows() { [ "$(cat "$@" 2>/dev/null | grep -c '"row":')" -ge "$N" ]; }
rows_at_least() { [ "$(cat "$1" 2>/dev/null | grep -c '"row":')" -ge "$2" ]; }
resyncs_in() { grep -c '^{"event":"resync"}$' "$1"; }
# consumer_field STREAM FILTER FIELD: FIELD of the stream's consumer with that filter subject
# (its filter_subject, or one of its filter_subjects; server's view).
consumer_field() {
  curl -s "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?consumers=true&config=true" | python3 -c '
import json, sys
stream, subject, field = sys.argv[1:]
for account in json.load(sys.stdin).get("account_details", []):
    for s in account.get("stream_detail", []):
        if s["name"] != stream:
            continue
        for c in s.get("consumer_detail", []):
            config = c["config"]
            if config.get("filter_subject") == subject or subject in (config.get("filter_subjects") or []):
                value = c
                for part in field.split("."):
                    value = value.get(part, 0) if isinstance(value, dict) else 0
                print(value)' "$1" "$2" "$3"
}
# consumers_of STREAM: each consumer of the stream, a line "NAME FILTER..." (server's view).
consumers_of() {
  curl -s "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?consumers=true&config=true" | python3 -c '
import json, sys
for account in json.load(sys.stdin).get("account_details", []):
    for s in account.get("stream_detail", []):
        if s["name"] == sys.argv[1]:
            for c in s.get("consumer_detail", []):
                config = c["config"]
                filters = config.get("filter_subjects") or [config.get("filter_subject") or "(unfiltered)"]
                print(c["name"], " ".join(sorted(filters)))' "$1"
}
consumer_count() { consumers_of "$1" | grep -c .; }
consumers_at_least() { [ "$(consumer_count "$1")" -ge "$2" ]; }
# stream_last_seq STREAM: the stream's last sequence (server's view).
stream_last_seq() {
  curl -s "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true" | python3 -c '
import json, sys
print(max([s["state"]["last_seq"] for a in json.load(sys.stdin).get("account_details", [])
           for s in a.get("stream_detail", []) if s["name"] == sys.argv[1]] or [0]))' "$1"
}
stream_has() { [ "$(stream_last_seq "$1")" -ge "$2" ]; }
consumer_exists() { [ -n "$(consumer_field "$1" "$2" name)" ]; }
# js_request SUBJECT [BODY]: a JetStream API request by a bare NATS protocol client (no
# ectowatch code); prints the reply's JSON.
js_request() {
  python3 - "$NATS_PORT" "$1" "${2:-}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
s.recv(4096)  # INFO
body = sys.argv[3].encode()
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.req 1\r\nPUB %s _INBOX.req %d\r\n%s\r\n'
          % (sys.argv[2].encode(), len(body), body))
reply = b""
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        sys.exit("js_request %s: no reply in 20 s" % sys.argv[2])
    if not chunk:
        sys.exit("js_request %s: the server closed the connection" % sys.argv[2])
    if b"PING\r\n" in chunk:
        s.sendall(b"PONG\r\n")
    reply += chunk
    head, _, rest = reply.partition(b"MSG _INBOX.req 1 ")
    size, _, payload = rest.partition(b"\r\n")
    if size and len(payload) >= int(size):
        print(payload[:int(size)].decode(errors="replace"))
        break
PY
}
# per_subject_name CONSUMER FILTER: the name a client reading one consumer per filter subject
# gives its consumer of FILTER: <consumer>-<FNV-1a of the filter>.
per_subject_name() {
  python3 -c '
import sys
h = 14695981039346656037
for b in sys.argv[2].encode():
    h = ((h ^ b) * 1099511628211) % 2**64
print("%s-%016x" % (sys.argv[1], h))' "$1" "$2"
}
# delete_stream STREAM: the JetStream API request.
delete_stream() {
  local reply
  reply="$(js_request "\$JS.API.STREAM.DELETE.$1")"
  if grep -q '"success":true' <<<"$reply"; then echo deleted; else echo "$reply"; fi
}
# insert_random FROM TO: one transaction per 50 rows ~50 ms apart, random text and numbers (the seed's).
insert_random() {
  python3 - "$seed" "$1" "$2" <<'PY' | psql -X -q -o /dev/null -v ON_ERROR_STOP=1
import random, sys
seed, first, last = map(int, sys.argv[1:])
rnd = random.Random(seed * 1000003 + first)
alphabet = "abc XYZ.*>~\"\\'\u00e9\u65e5\U0001f389\t"
def text():
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12)))
for start in range(first, last + 1, 50):
    rows = []
    for i in range(start, min(start + 50, last + 1)):
        rows.append("(%d, %s, %s)" % (i, "E'" + text().replace("\\", "\\\\").replace("'", "\\'") + "'",
                                      rnd.choice(["NULL", str(rnd.randrange(-10**12, 10**12)), "0.5"])))
    print("INSERT INTO nl_orders VALUES " + ",".join(rows) + ";")
    print("SELECT pg_sleep(0.05);")
PY
}

start_nats
sql "DROP TABLE IF EXISTS nl_orders, nl_items, nl_notes CASCADE"
sql "CREATE TABLE nl_orders (id int PRIMARY KEY, note text, amount numeric)"
sql "CREATE TABLE nl_items (sku text PRIMARY KEY, qty int)"
sql "CREATE TABLE nl_notes (id int PRIMARY KEY)"
"$cli" watch nl_orders inserted --delivery durable --extra-columns note,amount >/dev/null
"$cli" watch nl_items updated --delivery durable --extra-columns qty >/dev/null
"$cli" watch nl_notes inserted --delivery durable >/dev/null

# --- a. every row, as listen --slot prints it, across a restart ---------------------
N=1500
start_bridge main --slot nl_main --nats "$NATS_URL" --stream NL --prefix nl
wait_for "the bridge made its slot" 30 slot_exists nl_main
wait_for "the bridge made its stream" 30 stream_exists NL
"$cli" listen --slot nl_ref --count "$N" --timeout 120 nl_orders_inserted >"$work/ref.out" 2>"$work/ref.err" &
ref_pid=$!
wait_for "the reference listener made its slot" 30 slot_exists nl_ref
listen_nats a1 --stream NL --prefix nl --consumer billing nl_orders_inserted
wait_for "listen --nats made its consumer (resync line)" 30 grep -q '"event":"resync"' "$work/a1.out"
check "a: one resync when the durable consumer is created" "1" "$(resyncs_in "$work/a1.out")"
insert_random 1 $((N / 2)) &
inserts=$!
wait_for "the first listener printed 200 rows" 60 bash -c "[ \$(grep -c '\"row\":' '$work/a1.out') -ge 200 ]"
stop_listen a1 # mid-stream: what it printed is acknowledged, the rest is the next listener's
echo "a: the first listener printed $(grep -c '"row":' "$work/a1.out") rows before SIGTERM"
wait "$inserts"
insert_random $((N / 2 + 1)) $((N * 3 / 4)) # nobody listening on NATS
listen_nats a2 --stream NL --prefix nl --consumer billing nl_orders_inserted
insert_random $((N * 3 / 4 + 1)) "$N"
wait_for "the second listener caught up" 60 has_rows "$work/a1.out" "$work/a2.out"
wait "$ref_pid"
check "a: the reference listen --slot printed every row" "$N" "$(grep -c '"row":' "$work/ref.out")"
stop_listen a2
check "a: no resync when the durable consumer resumes" "0" "$(resyncs_in "$work/a2.out")"
grep -h '"row":' "$work/ref.out" | sort >"$work/ref.rows"
grep -h '"row":' "$work/a1.out" "$work/a2.out" | sort >"$work/nats.rows"
check "a: listen --nats printed every row exactly as listen --slot" "" \
  "$(sort -u "$work/nats.rows" | diff "$work/ref.rows" - | head -5)"
check "a: and nothing twice (the restart acknowledged what was printed)" "0" "$(uniq -d "$work/nats.rows" | wc -l)"
check "a: every committed row" "$N" "$(sql "SELECT count(*) FROM nl_orders")"
check "a: no errors" "" "$(cat "$work/a1.err" "$work/a2.err")"

# --- b. a Key subscription, filtered by the server ----------------------------------------
sql "INSERT INTO nl_items SELECT 'sku.' || g, 0 FROM generate_series(1, 20) g"
listen_nats b --stream NL --prefix nl --consumer keyed --keys --stats 'nl_items_updated:sku=sku.7'
listen_nats b_column --stream NL --prefix nl 'nl_items_updated:qty=3' # a ColumnFilter: matched in the client
wait_for "the Key consumer was created" 30 grep -q '"event":"resync"' "$work/b.out"
sleep 0.5 # the ephemeral consumer of b_column (no line tells when it is there)
for round in 1 2 3 4 5; do sql "UPDATE nl_items SET qty = $round" >/dev/null; done
wait_for "the Key subscription got its 5 rows" 30 bash -c "[ \$(grep -c '\"row\":' '$work/b.out') -ge 5 ]"
sleep 1 # anything else would have arrived by now
stop_listen b
stop_listen b_column
check "b: a ColumnFilter (qty=3) printed the 20 rows of round 3, and only those" "20 20" \
  "$(grep -c '"row":' "$work/b_column.out") $(grep -c '"qty":3}' "$work/b_column.out")"
check "b: the Key subscription printed its key's 5 rows" "5" "$(grep -c '"row":{"sku":"sku.7"' "$work/b.out")"
check "b: and no other row" "5" "$(grep -c '"row":' "$work/b.out")"
check "b: listen --stats counted the 5 messages it read" '"messages":5' "$(grep -o '"messages":[0-9]*' "$work/b.err")"
check "b: the server delivered only those (its consumer's count)" "5" \
  "$(consumer_field NL 'nl.nl_items_updated.sku~2E7' delivered.consumer_seq)"
stop_bridge main

# --- c. resync when messages aged out of the stream ------------------------------------
start_bridge small --slot nl_small --nats "$NATS_URL" --stream NLSMALL --prefix nls --max-msgs 5 nl_orders_inserted
wait_for "the small stream exists" 30 stream_exists NLSMALL
listen_nats c1 --stream NLSMALL --prefix nls --consumer aging nl_orders_inserted
wait_for "the consumer was created" 30 grep -q '"event":"resync"' "$work/c1.out"
sql "INSERT INTO nl_orders VALUES (100001, 'c', 1), (100002, 'c', 2), (100003, 'c', 3)"
wait_for "three rows" 30 bash -c "[ \$(grep -c '\"row\":' '$work/c1.out') -ge 3 ]"
stop_listen c1
listen_nats c2 --stream NLSMALL --prefix nls --consumer aging nl_orders_inserted
sleep 1
stop_listen c2
check "c: no resync while the stream holds everything" "0" "$(resyncs_in "$work/c2.out")"
sql "INSERT INTO nl_orders SELECT g, 'c', g FROM generate_series(100004, 100020) g"
wait_for "the bridge published them" 30 bash -c \
  "curl -s 'http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true' | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(s[\"state\"][\"last_seq\"] >= 20 for a in d.get(\"account_details\", []) for s in a.get(\"stream_detail\", []) if s[\"name\"] == \"NLSMALL\") else 1)'"
listen_nats c3 --stream NLSMALL --prefix nls --consumer aging nl_orders_inserted
wait_for "the last five rows" 30 bash -c "[ \$(grep -c '\"row\":' '$work/c3.out') -ge 5 ]"
sleep 0.5
stop_listen c3
check "c: a resync when the stream no longer holds what the consumer needs" "1" "$(resyncs_in "$work/c3.out")"
check "c: then what the stream still holds: the last five rows" "100016 100017 100018 100019 100020" \
  "$(grep -o '"id":[0-9]*' "$work/c3.out" | cut -d: -f2 | paste -sd' ')"
stop_bridge small

# --- d. NATS restarted mid-stream: the durable listener loses nothing, the ephemeral one resyncs ---
start_bridge restart --slot nl_restart --nats "$NATS_URL" --stream NLR --prefix nlr nl_orders_inserted
wait_for "the restart stream exists" 30 stream_exists NLR
listen_nats d --stream NLR --prefix nlr --consumer survivor nl_orders_inserted
listen_nats e --stream NLR --prefix nlr nl_orders_inserted
wait_for "the durable consumer was created" 30 grep -q '"event":"resync"' "$work/d.out"
sleep 0.5 # the ephemeral consumer (no line tells when it is there)
python3 -c '
for start in range(200001, 201001, 20):
    print("INSERT INTO nl_orders SELECT g, %s, g FROM generate_series(%d, %d) g;" % ("$$d$$", start, start + 19))
    print("SELECT pg_sleep(0.03);")' | psql -X -q -o /dev/null -v ON_ERROR_STOP=1 &
inserts=$!
wait_for "the durable listener is reading" 30 bash -c "[ \$(grep -c '\"row\":' '$work/d.out') -ge 100 ]"
restart_nats -9
wait "$inserts"
wait_for "the durable listener got every row" 90 bash -c \
  "[ \$(grep -o '\"id\":20[0-9]*' '$work/d.out' | sort -u | wc -l) -ge 1000 ]"
stop_listen d
stop_listen e
check "d: every row to the durable listener across a NATS restart" "1000" \
  "$(grep -o '"id":20[0-9]*' "$work/d.out" | sort -u | wc -l)"
check "d: it was told the connection went (on_error)" "1" "$(grep -c -m1 'NATS' "$work/d.err")"
check "d: the ephemeral listener resynced after the reconnect" "1" "$(resyncs_in "$work/e.out")"
stop_bridge restart

# --- f. a connected durable listener falling behind a small stream: resync aged_out --------
start_bridge roll --slot nl_roll --nats "$NATS_URL" --stream NLROLL --prefix nlroll --max-msgs 200 nl_orders_inserted
wait_for "the rolling stream exists" 30 stream_exists NLROLL
# Its output is held until the stream has rolled past what it was sent (MaxAckPending: 1024).
: >"$work/f.out"
"$cli" listen --nats "$NATS_URL" --stream NLROLL --prefix nlroll --consumer slow --stats nl_orders_inserted \
  2>"$work/f.err" > >(while [ ! -f "$work/f.go" ]; do sleep 0.1; done; cat >>"$work/f.out") &
listen_pid[f]=$!
wait_for "the slow consumer exists" 30 consumer_exists NLROLL 'nlroll.nl_orders_inserted.>'
sql "INSERT INTO nl_orders SELECT g, 'f', g FROM generate_series(300001, 305000) g"
wait_for "the bridge published the 5000 rows" 60 stream_has NLROLL 5000
touch "$work/f.go"
wait_for "the slow listener printed the last row" 60 grep -q '"id":305000' "$work/f.out"
stop_listen f
f_rows=$(grep -c '"row":' "$work/f.out")
echo "f: the slow listener printed $f_rows of 5000 rows"
check "f: the stream removed rows before the stalled listener got them" "yes" "$([ "$f_rows" -lt 5000 ] && echo yes)"
check "f: a resync aged_out said so (after the creation's)" "yes" \
  "$([ "$(resyncs_in "$work/f.out")" -ge 2 ] && grep -q '"aged_out":[1-9]' "$work/f.err" && echo yes)"
stop_bridge roll

# --- g. an ephemeral listener with blocked output stays within --max-buffered-bytes ---------
start_bridge mem --slot nl_mem --nats "$NATS_URL" --stream NLMEM --prefix nlmem nl_orders_inserted
wait_for "the memory stream exists" 30 stream_exists NLMEM
: >"$work/g.out"
# ASan's quarantine would hold what was freed (the dropped messages) in RSS.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
  "$cli" listen --nats "$NATS_URL" --stream NLMEM --prefix nlmem --max-buffered-bytes 1000000 nl_orders_inserted \
  2>"$work/g.err" > >(while [ ! -f "$work/g.go" ]; do sleep 0.1; done; cat >>"$work/g.out") &
listen_pid[g]=$!
sleep 1 # the ephemeral consumer (no line tells when it is there)
rss_start=$(awk '/VmRSS/ {print $2}' "/proc/${listen_pid[g]}/status")
sql "INSERT INTO nl_orders SELECT g, repeat('g', 100), g FROM generate_series(400001, 460000) g"
wait_for "the bridge published the 60000 rows" 120 stream_has NLMEM 60000
sleep 2 # libnats has read them
peak=$(awk '/VmHWM/ {print $2}' "/proc/${listen_pid[g]}/status")
touch "$work/g.go"
wait_for "the listener resynced" 60 grep -q '"event":"resync"' "$work/g.out"
stop_listen g
echo "g: RSS $rss_start kB before the rows, peak $peak kB while its output was blocked (60000 rows, 13 MB of payload)"
check "g: peak RSS grew by less than 20 MB (1 MB buffered at most)" "yes" "$([ $((peak - rss_start)) -lt 20000 ] && echo yes)"
check "g: it said it dropped what waited" "1" "$(grep -c -m1 'callbacks fell behind' "$work/g.err")"
stop_bridge mem

# --- h. the stream deleted under a connected durable listener -------------------------------
start_bridge del --slot nl_del --nats "$NATS_URL" --stream NLDEL --prefix nldel nl_orders_inserted
wait_for "the stream to delete exists" 30 stream_exists NLDEL
listen_nats h --stream NLDEL --prefix nldel --consumer orphan nl_orders_inserted
wait_for "the consumer was created" 30 grep -q '"event":"resync"' "$work/h.out"
stop_bridge del
check "h: the stream is deleted" "deleted" "$(delete_stream NLDEL)"
wait_for "the listener was told the stream was deleted" 60 grep -q 'NLDEL.*deleted' "$work/h.err"
stop_listen h
check "h: a resync for it (after the creation's)" "2" "$(resyncs_in "$work/h.out")"

# --- i. one consumer with filter_subjects on NATS 2.10+, one per subject before ----------------
nats_version="$("$NATS_SERVER" --version | sed 's/^nats-server: v//')"
if [ "$(printf '%s\n' 2.10.0 "$nats_version" | sort -V | head -1)" = 2.10.0 ]; then per_listener=1; else per_listener=6; fi
echo "i: nats-server $nats_version: $per_listener consumer(s) per listener of six filter subjects"
start_bridge many --slot nl_many --nats "$NATS_URL" --stream NLMANY --prefix nlm
wait_for "the stream of several labels exists" 30 stream_exists NLMANY
# A label, and two keys of another label: nlm.nl_orders_inserted.>, the two keys' subjects and
# nl_items_updated's ~truncated, ~dropped and ~resync. nl_notes_inserted and the other keys are not read.
targets=(--keys nl_orders_inserted 'nl_items_updated:sku=sku.3' 'nl_items_updated:sku=sku.5')
listen_nats i1 --stream NLMANY --prefix nlm --consumer many "${targets[@]}"
wait_for "the durable consumer was created" 30 grep -q '"event":"resync"' "$work/i1.out"
consumers_of NLMANY | sed 's/^/i: consumer /'
check "i: the durable listener's consumers on the server" "$per_listener" "$(consumer_count NLMANY)"
check "i: reading the six subjects between them" "6" "$(consumers_of NLMANY | awk '{n += NF - 1} END {print n}')"
check "i: none unfiltered" "0" "$(consumers_of NLMANY | grep -c unfiltered)"
listen_nats i_e --stream NLMANY --prefix nlm "${targets[@]}"
wait_for "the ephemeral listener's consumers" 30 consumers_at_least NLMANY $((2 * per_listener))
sleep 0.5 # anything more would be there by now
check "i: and the ephemeral listener's ($per_listener more)" "$((2 * per_listener))" "$(consumer_count NLMANY)"
check "i: none unfiltered, with both" "0" "$(consumers_of NLMANY | grep -c unfiltered)"
python3 -c '
for r in range(1, 7):
    print("INSERT INTO nl_orders SELECT g, $$i$$, g FROM generate_series(%d, %d) g;" % (500000 + 50 * r - 49, 500000 + 50 * r))
    print("UPDATE nl_items SET qty = %d;" % (100 + r))
    print("INSERT INTO nl_notes SELECT g FROM generate_series(%d, %d) g;" % (20 * r - 19, 20 * r))
    print("SELECT pg_sleep(0.3);")' | psql -X -q -o /dev/null -v ON_ERROR_STOP=1 &
inserts=$!
wait_for "the durable listener is reading" 30 rows_at_least "$work/i1.out" 60
kill -9 "${listen_pid[i1]}"
wait "${listen_pid[i1]}" 2>/dev/null
listen_nats i2 --stream NLMANY --prefix nlm --consumer many "${targets[@]}"
wait "$inserts"
# The expected rows: 300 orders, and sku.3 and sku.5 in each of the six updates.
{
  seq 500001 500300 | sed 's/^/nl_orders_inserted /'
  for qty in 101 102 103 104 105 106; do echo "nl_items_updated sku.3 $qty"; echo "nl_items_updated sku.5 $qty"; done
} | sort >"$work/i.expected"
row_keys() { # the rows printed in FILE..., one line each: label and key (and qty)
  cat "$@" | python3 -c '
import json, sys
for line in sys.stdin:
    event = json.loads(line)
    if "row" in event:
        row = event["row"]
        print(event["label"], *[row[c] for c in ("id", "sku", "qty") if c in row])' | sort
}
# What i1 had printed but not acknowledged comes again after the ack wait (30 s).
wait_for "the durable listener got every row after its SIGKILL" 90 bash -c \
  "[ \$(cat '$work/i1.out' '$work/i2.out' | grep '\"row\":' | sort -u | wc -l) -ge 312 ]"
wait_for "the ephemeral listener got every row" 30 rows_at_least "$work/i_e.out" 312
sleep 1 # anything else would have arrived by now
stop_listen i2 # SIGTERM: its subscriptions go one by one on the way out
stop_listen i_e
# Rows of both labels while nobody listens: the durable consumer still reads both.
sql "INSERT INTO nl_orders SELECT g, 'i', g FROM generate_series(500301, 500320) g"
sql "UPDATE nl_items SET qty = 107"
listen_nats i3 --stream NLMANY --prefix nlm --consumer many "${targets[@]}"
wait_for "the durable listener got the rows published while it was stopped" 30 rows_at_least "$work/i3.out" 22
sleep 1 # anything else would have arrived by now
stop_listen i3
stop_bridge many
{
  seq 500301 500320 | sed 's/^/nl_orders_inserted /'
  echo "nl_items_updated sku.3 107"
  echo "nl_items_updated sku.5 107"
} | sort >"$work/i3.expected"
echo "i: the durable listener printed $(grep -c '"row":' "$work/i1.out") rows before SIGKILL, $(grep -c '"row":' "$work/i2.out") after"
check "i: durable: every row of the six subjects and no other (no other key, no other label)" "" \
  "$(row_keys "$work/i1.out" "$work/i2.out" | uniq | diff "$work/i.expected" - | head -5)"
check "i: durable: no resync when it resumed on its consumer after the SIGKILL" "0" "$(resyncs_in "$work/i2.out")"
check "i: ephemeral: every row of the six subjects and no other, each once" "" \
  "$(row_keys "$work/i_e.out" | diff "$work/i.expected" - | head -5)"
check "i: durable, after a SIGTERM: the rows of both labels published meanwhile, each once" "" \
  "$(row_keys "$work/i3.out" | diff "$work/i3.expected" - | head -5)"
check "i: and no resync (its consumer still had both labels' filters)" "0" "$(resyncs_in "$work/i3.out")"
check "i: no errors" "" "$(cat "$work/i2.err" "$work/i_e.err" "$work/i3.err")"

# --- j. a durable consumer of the per-subject layout holding rows: read through it -----------
start_bridge legacy --slot nl_legacy --nats "$NATS_URL" --stream NLOLD --prefix nlo nl_orders_inserted
wait_for "the stream of the per-subject consumer exists" 30 stream_exists NLOLD
# Made as a client that read one consumer per filter subject made it: <consumer>-<FNV-1a of the filter>.
filter='nlo.nl_orders_inserted.>'
legacy="$(per_subject_name legacy "$filter")"
js_request "\$JS.API.CONSUMER.DURABLE.CREATE.NLOLD.$legacy" '{"stream_name":"NLOLD","config":{"durable_name":"'"$legacy"'",
  "deliver_subject":"_INBOX.nl_legacy","deliver_policy":"new","ack_policy":"explicit","max_ack_pending":1024,
  "filter_subject":"'"$filter"'"}}' >/dev/null
check "j: the per-subject consumer exists" "$legacy $filter" "$(consumers_of NLOLD)"
sql "INSERT INTO nl_orders SELECT g, 'j', g FROM generate_series(600001, 600050) g"
wait_for "the bridge published the 50 rows" 30 stream_has NLOLD 50
listen_nats j --stream NLOLD --prefix nlo --consumer legacy nl_orders_inserted
wait_for "the 50 rows the consumer held" 30 rows_at_least "$work/j.out" 50
sql "INSERT INTO nl_orders SELECT g, 'j', g FROM generate_series(600051, 600060) g"
wait_for "and 10 more" 30 rows_at_least "$work/j.out" 60
sleep 0.5
stop_listen j
stop_bridge legacy
check "j: the 60 rows through the per-subject consumer: nothing lost, nothing twice" "60 60" \
  "$(grep -c '"row":' "$work/j.out") $(grep -o '"id":60[0-9]*' "$work/j.out" | sort -u | wc -l)"
check "j: no resync (the consumer existed)" "0" "$(resyncs_in "$work/j.out")"
check "j: no other consumer was made" "$legacy $filter" "$(consumers_of NLOLD)"
check "j: no errors" "" "$(cat "$work/j.err")"

# --- k. a durable listener killed holding unacknowledged messages, which the stream's limits ----
# remove before the server sends them again (its ack wait, 30 s): the next listener says so.
start_bridge owed --slot nl_owed --nats "$NATS_URL" --stream NLOWED --prefix nlow --max-msgs 2000 nl_orders_inserted
wait_for "the stream of the killed listener exists" 30 stream_exists NLOWED
# Its output is held: about a pipe's worth of rows printed (acknowledged), the rest sent and not.
"$cli" listen --nats "$NATS_URL" --stream NLOWED --prefix nlow --consumer owed nl_orders_inserted \
  2>"$work/k1.err" > >(while [ ! -f "$work/k.go" ]; do sleep 0.1; done; cat >>"$work/k1.out") &
listen_pid[k1]=$!
wait_for "the consumer of the killed listener exists" 30 consumer_exists NLOWED 'nlow.nl_orders_inserted.>'
sql "INSERT INTO nl_orders SELECT g, 'k', g FROM generate_series(700001, 702000) g"
wait_for "the bridge published the first 2000 rows" 60 stream_has NLOWED 2000
k_pending() { [ "$(consumer_field NLOWED 'nlow.nl_orders_inserted.>' num_ack_pending)" -ge 100 ] 2>/dev/null; }
wait_for "the server sent rows the listener did not acknowledge" 30 k_pending
kill -9 "${listen_pid[k1]}"
wait "${listen_pid[k1]}" 2>/dev/null
touch "$work/k.go"
listen_nats k2 --stream NLOWED --prefix nlow --consumer owed --stats nl_orders_inserted
sleep 1 # bound, owing what k1 was sent
sql "INSERT INTO nl_orders SELECT g, 'k', g FROM generate_series(702001, 704000) g" # rolls past them
wait_for "the next listener printed the last row" 60 grep -q '"id":704000' "$work/k2.out"
# Within a health-check interval (15 s) of the roll, or the ack wait: told, or sent again.
k_told() {
  [ "$(resyncs_in "$work/k2.out")" -ge 1 ] ||
    [ "$(cat "$work/k1.out" "$work/k2.out" | grep -o '"id":70[0-9]*' | sort -u | wc -l)" -eq 4000 ]
}
wait_for "the next listener was told, or got every row again" 45 k_told
stop_listen k2
stop_bridge owed
k_rows=$(cat "$work/k1.out" "$work/k2.out" | grep -o '"id":70[0-9]*' | sort -u | wc -l)
echo "k: the killed listener printed $(grep -c '"row":' "$work/k1.out"), the next $(grep -c '"row":' "$work/k2.out") rows; $k_rows of 4000 in all, $(resyncs_in "$work/k2.out") resyncs"
check "k: every row printed, or a resync aged_out said some may be missing" "yes" \
  "$({ [ "$k_rows" -eq 4000 ] || { [ "$(resyncs_in "$work/k2.out")" -ge 1 ] && grep -q '"aged_out":[1-9]' "$work/k2.err"; }; } && echo yes)"

# --- l. a callback slower than the ack wait: in-progress acks, nothing sent twice ------------------
start_bridge patient --slot nl_patient --nats "$NATS_URL" --stream NLSLOW --prefix nlsl nl_orders_inserted
wait_for "the stream of the slow callbacks exists" 30 stream_exists NLSLOW
# A consumer made by hand with an ack wait of 2 s (the server's default is 30 s), bound by the listener.
filter='nlsl.nl_orders_inserted.>'
patient="$(per_subject_name patient "$filter")"
js_request "\$JS.API.CONSUMER.DURABLE.CREATE.NLSLOW.$patient" '{"stream_name":"NLSLOW","config":{"durable_name":"'"$patient"'",
  "deliver_subject":"_INBOX.nl_patient","deliver_policy":"new","ack_policy":"explicit","max_ack_pending":1024,
  "ack_wait":2000000000,"filter_subject":"'"$filter"'"}}' >/dev/null
check "l: the consumer with a 2 s ack wait exists" "2000000000" "$(consumer_field NLSLOW "$filter" config.ack_wait)"
# Its output held for 7 s: the callbacks of the rows it holds take more than three ack waits.
"$cli" listen --nats "$NATS_URL" --stream NLSLOW --prefix nlsl --consumer patient nl_orders_inserted \
  2>"$work/l.err" > >(while [ ! -f "$work/l.go" ]; do sleep 0.1; done; cat >>"$work/l.out") &
listen_pid[l]=$!
l_bound() { [ "$(consumer_field NLSLOW "$filter" push_bound)" = True ]; }
wait_for "the listener is bound to it" 30 l_bound
sql "INSERT INTO nl_orders SELECT g, 'l', g FROM generate_series(800001, 803000) g"
wait_for "the bridge published the 3000 rows" 60 stream_has NLSLOW 3000
sleep 7
touch "$work/l.go"
wait_for "the listener printed the 3000 rows" 60 rows_at_least "$work/l.out" 3000
sleep 1
stop_listen l
stop_bridge patient
check "l: every row once" "3000 3000" \
  "$(grep -c '"row":' "$work/l.out") $(grep -o '"id":80[0-9]*' "$work/l.out" | sort -u | wc -l)"
check "l: the server sent nothing again (its consumer's deliveries)" "3000" \
  "$(consumer_field NLSLOW "$filter" delivered.consumer_seq)"
check "l: no errors" "" "$(cat "$work/l.err")"

# --- m. --load: the rows behind the events, from PostgreSQL ------------------------------
start_bridge load --slot nl_load --nats "$NATS_URL" --stream NLLOAD --prefix nll nl_items_updated
wait_for "the load stream exists" 30 stream_exists NLLOAD
listen_nats m1 --stream NLLOAD --prefix nll --consumer loading --load --load-window 50 nl_items_updated
wait_for "the loading consumer was created" 30 grep -q '"event":"resync"' "$work/m1.out"
sql "UPDATE nl_items SET qty = 100" >/dev/null
sql "UPDATE nl_items SET qty = 200 WHERE sku IN ('sku.1', 'sku.2')" >/dev/null
wait_for "a loaded line for each of the 20 keys" 30 bash -c \
  "[ \$(grep -o '\"row\":{\"sku\":\"[^\"]*\"' '$work/m1.out' | sort -u | wc -l) -ge 20 ]"
wait_for "sku.1 and sku.2 loaded at 200" 30 bash -c "[ \$(grep -c '\"qty\":200}' '$work/m1.out') -ge 2 ]"
sleep 0.5
stop_listen m1
# The last line per key, against the table.
last_loaded="$(grep '"row":' "$work/m1.out" | python3 -c '
import json, sys
last = {}
for line in sys.stdin:
    d = json.loads(line)
    last[d["row"]["sku"]] = d["row"]["qty"]
print(" ".join("%s=%s" % (k, last[k]) for k in sorted(last)))')"
check "m: the last loaded row per key is the table's" \
  "$(sql "SELECT string_agg(sku || '=' || qty, ' ' ORDER BY sku) FROM nl_items")" "$last_loaded"
check "m: every line is a loaded row of the label" "0" "$(grep '"row":' "$work/m1.out" | grep -vc '^{"label":"nl_items_updated","table":"public.nl_items","op":"updated","row":{"sku":')"
listen_nats m2 --stream NLLOAD --prefix nll --consumer loading --load --load-window 50 nl_items_updated
sleep 1.5
stop_listen m2
check "m: a second listener prints nothing again (acknowledged after loading)" "0" "$(grep -c '"row":' "$work/m2.out")"
check "m: no errors" "" "$(cat "$work/m1.err" "$work/m2.err")"
stop_bridge load

for slot in nl_main nl_ref nl_small nl_restart nl_roll nl_mem nl_del nl_many nl_legacy nl_owed nl_patient nl_load; do sql "SELECT pg_drop_replication_slot('$slot')" >/dev/null; done
"$cli" unwatch nl_orders_inserted >/dev/null
"$cli" unwatch nl_items_updated >/dev/null
"$cli" unwatch nl_notes_inserted >/dev/null

echo "nats listen: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
