# A PostgreSQL server with no ectowatch files, like a managed service's: a
# copy of this machine's server install tree (PostgreSQL finds its lib/ and
# share/ relative to its binary) with ectowatch's library and extension files
# removed, so neither CREATE EXTENSION ectowatch nor its output plugin can
# load. Source it, then call start_plain_server; the server and the copy are
# deleted on exit (cluster.sh's trap).
#
# After start_plain_server: PGHOST, PGPORT, PGUSER (postgres), PGDATABASE as
# cluster.sh exports them, and an application role PLAIN_APP (LOGIN,
# REPLICATION, owner of its database PLAIN_APP_DB, nothing else) with
# PLAIN_APP_DSN to connect as it.

source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

PLAIN_APP=app
PLAIN_APP_DB=app_db

# start_plain_server [extra postgresql.conf lines...] (wal_level = logical is given)
start_plain_server() {
  local installed version
  installed="$(dirname "$(pg_config --bindir)")" # /usr/lib/postgresql/15
  version="$(basename "$installed")"
  PLAIN_ROOT="$(mktemp -d -t ectowatch-plain.XXXXXX)"
  chmod 755 "$PLAIN_ROOT"
  mkdir -p "$PLAIN_ROOT/usr/lib/postgresql" "$PLAIN_ROOT/usr/share/postgresql"
  cp -a "$installed" "$PLAIN_ROOT/usr/lib/postgresql/"
  cp -a "/usr/share/postgresql/$version" "$PLAIN_ROOT/usr/share/postgresql/"
  rm -f "$PLAIN_ROOT/usr/lib/postgresql/$version/lib/"ectowatch* \
    "$PLAIN_ROOT/usr/share/postgresql/$version/extension/"ectowatch*
  PG_BINDIR="$PLAIN_ROOT/usr/lib/postgresql/$version/bin"
  start_cluster "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" "$@" || return 1
  trap 'stop_cluster; rm -rf "$PLAIN_ROOT"' EXIT
  psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "CREATE ROLE $PLAIN_APP LOGIN REPLICATION" \
    -c "CREATE DATABASE $PLAIN_APP_DB OWNER $PLAIN_APP" || return 1
  PLAIN_APP_DSN="host=$PGHOST port=$PGPORT user=$PLAIN_APP dbname=$PLAIN_APP_DB"
  export PLAIN_ROOT PLAIN_APP PLAIN_APP_DB PLAIN_APP_DSN
}
