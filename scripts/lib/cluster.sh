# Throwaway PostgreSQL cluster for tests and the demo. Source this file, then
# call start_cluster; the cluster is stopped and deleted on exit, even when a
# test fails. It listens only on a Unix socket in its own fresh directory, so
# it never collides with another server.
#
# After start_cluster: PGHOST, PGPORT, PGUSER, PGDATABASE are exported and
# CLUSTER_DIR / CLUSTER_LOG name its directory and server log.

PG_BINDIR="$(pg_config --bindir)"

# How every test cluster is made (also the ones scripts/lib/roots.sh starts
# inside a root): initdb's arguments, and the postgresql.conf lines for a
# cluster listening only on the socket directory $1.
CLUSTER_INITDB_ARGS=(-U postgres --auth=trust --no-sync -E UTF8 --locale=C)
cluster_settings() {
  echo "listen_addresses = ''"
  echo "unix_socket_directories = '$1'"
  echo "port = 54329"
  echo "fsync = off"
  echo "max_prepared_transactions = 4"
  echo "log_line_prefix = '%m [%p] %a '"
}

# PostgreSQL refuses to run as root: run its programs as `postgres` then.
as_cluster_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_cluster() {
  if [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
    as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${CLUSTER_DIR:-}" ] && [ -z "${KEEP_CLUSTER:-}" ]; then
    rm -rf "$CLUSTER_DIR"
  fi
}

# start_cluster [extra postgresql.conf lines...]
start_cluster() {
  CLUSTER_DIR="$(mktemp -d -t ectowatch-cluster.XXXXXX)"
  trap stop_cluster EXIT
  trap 'exit 130' INT TERM
  chmod 755 "$CLUSTER_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$CLUSTER_DIR"; fi
  as_cluster_owner mkdir -p "$CLUSTER_DIR/socket"
  as_cluster_owner "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" "${CLUSTER_INITDB_ARGS[@]}" >"$CLUSTER_DIR/initdb.log" 2>&1 ||
    { cat "$CLUSTER_DIR/initdb.log"; return 1; }
  {
    cluster_settings "$CLUSTER_DIR/socket"
    for line in "$@"; do echo "$line"; done
  } | as_cluster_owner tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
  CLUSTER_LOG="$CLUSTER_DIR/server.log"
  as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start >/dev/null ||
    { cat "$CLUSTER_LOG"; return 1; }
  export PGHOST="$CLUSTER_DIR/socket" PGPORT=54329 PGUSER=postgres PGDATABASE=postgres
  export CLUSTER_DIR CLUSTER_LOG
}

# Fails when a backend crashed during the run (the postmaster then logs it).
# check_no_crash [LOG]: the cluster's log unless another server's is given.
check_no_crash() {
  if grep -E "terminated by signal|was terminated by exception|server process .* exited with exit code [^0]" "${1:-$CLUSTER_LOG}"; then
    echo "FAIL: the server log shows a crashed backend (see above)" >&2
    return 1
  fi
}
