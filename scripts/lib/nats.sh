# Throwaway NATS servers (Debian's nats-server, JetStream on) for the bridge's
# tests and benchmark. Source this file, then call start_nats (one server) or
# start_nats_cluster (three JetStream nodes). They listen on free loopback
# ports with their store in a fresh temporary directory, and are stopped and
# deleted on exit, even when a test fails (the EXIT trap is added to, not
# replaced: scripts/lib/cluster.sh's keeps working).
#
# After start_nats:          NATS_URL, NATS_DIR; restart_nats [-9] restarts it on the same port and store;
#                            kill_nats and start_nats_single stop and start it in two steps.
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

# kill_nats / start_nats_single: SIGKILL the server (its store stays), start it again on the same port.
kill_nats() {
  local pid
  pid="$(cat "$NATS_DIR/single.pid")"
  kill -9 "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
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

# sid_nats_server: prints the path of Debian sid's nats-server (2.15 when
# written), fetched once by apt from Debian's archive into
# ${ECTOWATCH_NATS_CACHE:-/var/cache/ectowatch-nats}/<version>/. apt runs
# with a private source list and state, so the machine's own sources and
# packages stay as they are. nats-server is one Go binary with no library
# beyond libc: sid's runs on Debian 12 as it is. The archive snapshot's
# Release file may be past its Valid-Until date, hence Check-Valid-Until=false
# (the signature is still checked, against Debian's archive keyring).
sid_nats_server() {
  local cache="${ECTOWATCH_NATS_CACHE:-/var/cache/ectowatch-nats}" found
  found="$(ls -d "$cache"/*/nats-server 2>/dev/null | sort -V | tail -1)"
  if [ -n "$found" ] && "$found" --version >/dev/null 2>&1; then
    echo "$found"
    return 0
  fi
  local apt_dir version
  apt_dir="$(mktemp -d)"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${ECTOWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian} sid main" \
    >"$apt_dir/sources.list"
  local apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Acquire::Check-Valid-Until=false
    -o APT::Sandbox::User=root)
  if ! apt-get "${apt_options[@]}" update >"$apt_dir/apt.log" 2>&1 ||
    ! (cd "$apt_dir" && apt-get "${apt_options[@]}" download nats-server >>"$apt_dir/apt.log" 2>&1); then
    echo "sid_nats_server: could not fetch nats-server from Debian sid; apt said:" >&2
    tail -5 "$apt_dir/apt.log" >&2
    rm -rf "$apt_dir"
    return 1
  fi
  dpkg-deb -x "$apt_dir"/nats-server_*.deb "$apt_dir/root"
  version="$("$apt_dir/root/usr/sbin/nats-server" --version | sed 's/^nats-server: v//')"
  mkdir -p "$cache/$version"
  cp "$apt_dir/root/usr/sbin/nats-server" "$cache/$version/nats-server.tmp" &&
    mv "$cache/$version/nats-server.tmp" "$cache/$version/nats-server"
  rm -rf "$apt_dir"
  echo "$cache/$version/nats-server"
}
