# Throwaway NATS servers (Debian's nats-server, JetStream on) for the bridge's
# tests and benchmark. Source this file, then call start_nats (one server) or
# start_nats_cluster (three JetStream nodes). They listen on free loopback
# ports with their store in a fresh temporary directory, and are stopped and
# deleted on exit, even when a test fails (the EXIT trap is added to, not
# replaced: scripts/lib/cluster.sh's keeps working).
#
# After start_nats:          NATS_URL, NATS_DIR; restart_nats [-9] restarts it on the same port and store.
# After start_nats_cluster:  NATS_URLS (all three, comma-separated), NATS_NODE_URL[1..3];
#                            kill_nats_node N (SIGKILL), start_nats_node N.

NATS_SERVER="${NATS_SERVER:-nats-server}"
NATS_DIR=""

# free_port: a loopback port nobody listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_nats() {
  local pidfile
  for pidfile in "$NATS_DIR"/*.pid; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
  done
  if [ -n "$NATS_DIR" ] && [ -z "${KEEP_NATS:-}" ]; then rm -rf "$NATS_DIR"; fi
  NATS_DIR=""
}

nats_dir() {
  if [ -z "$NATS_DIR" ]; then
    NATS_DIR="$(mktemp -d -t ectowatch-nats.XXXXXX)"
    local previous
    previous="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
    # shellcheck disable=SC2064
    trap "stop_nats; ${previous:-:}" EXIT
  fi
}

# wait_nats_ready MONITOR_PORT LOG: until the server (and JetStream) answers /healthz (20 s at most).
wait_nats_ready() {
  local port=$1 log=$2 i
  for ((i = 0; i < 200; i++)); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nats-server did not become ready; its log:" >&2
  tail -20 "$log" >&2
  return 1
}

# start_nats: one server with JetStream.
start_nats() {
  nats_dir
  NATS_PORT=$(free_port)
  NATS_MONITOR_PORT=$(free_port)
  NATS_URL="nats://127.0.0.1:$NATS_PORT"
  export NATS_URL
  start_nats_single
}

start_nats_single() {
  ("$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -js --store_dir "$NATS_DIR/store" \
    -P "$NATS_DIR/single.pid" -l "$NATS_DIR/single.log" &)
  wait_nats_ready "$NATS_MONITOR_PORT" "$NATS_DIR/single.log"
}

# restart_nats [-9]: stops the server (SIGTERM, or SIGKILL with -9) and starts
# it again on the same port and store.
restart_nats() {
  local signal=${1:--TERM} pid
  pid="$(cat "$NATS_DIR/single.pid")"
  kill "$signal" "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  start_nats_single
}

# start_nats_cluster: three nodes of one JetStream cluster.
start_nats_cluster() {
  nats_dir
  local n routes=""
  for n in 1 2 3; do
    NATS_NODE_PORT[n]=$(free_port)
    NATS_NODE_ROUTE_PORT[n]=$(free_port)
    NATS_NODE_MONITOR_PORT[n]=$(free_port)
    NATS_NODE_URL[n]="nats://127.0.0.1:${NATS_NODE_PORT[n]}"
    routes+="${routes:+, }nats-route://127.0.0.1:${NATS_NODE_ROUTE_PORT[n]}"
  done
  NATS_URLS="${NATS_NODE_URL[1]},${NATS_NODE_URL[2]},${NATS_NODE_URL[3]}"
  export NATS_URLS
  for n in 1 2 3; do
    cat >"$NATS_DIR/n$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:${NATS_NODE_PORT[n]}
http: 127.0.0.1:${NATS_NODE_MONITOR_PORT[n]}
pid_file: "$NATS_DIR/n$n.pid"
jetstream { store_dir: "$NATS_DIR/n$n" }
cluster {
  name: ectowatch_test
  listen: 127.0.0.1:${NATS_NODE_ROUTE_PORT[n]}
  routes: [ $routes ]
}
CONF
    start_nats_node "$n" nowait
  done
  for n in 1 2 3; do wait_nats_ready "${NATS_NODE_MONITOR_PORT[n]}" "$NATS_DIR/n$n.log" || return 1; done
}

start_nats_node() {
  ("$NATS_SERVER" -c "$NATS_DIR/n$1.conf" -l "$NATS_DIR/n$1.log" &)
  [ "${2:-}" = nowait ] || wait_nats_ready "${NATS_NODE_MONITOR_PORT[$1]}" "$NATS_DIR/n$1.log"
}

kill_nats_node() {
  kill -9 "$(cat "$NATS_DIR/n$1.pid")"
  rm -f "$NATS_DIR/n$1.pid"
}
