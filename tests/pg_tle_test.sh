#!/usr/bin/env bash
# The portable edition as a real extension through pg_tle (RDS, Aurora,
# Supabase), on a server with no ectowatch files (scripts/lib/plain_server.sh)
# into which pg_tle is built from its upstream source: as a role with only
# LOGIN, REPLICATION, its database and pgtle_admin, `ectowatch install
# --pg-tle` registers the edition and creates the extension; a notify and a
# durable watcher send; run again it changes nothing; an update path to a
# next version (the same idempotent script) and ALTER EXTENSION ... UPDATE keep
# every watcher; `install --portable` is refused there.
# pg_tle is test material only (PG_TLE_TARBALL, by default
# tests/vendor/pg_tle-1.5.2.tar.gz; building it needs flex and
# libkrb5-dev). Without the tarball the test says so and exits 77 (skipped,
# never counted as passed); without flex or libkrb5-dev it FAILS, since
# scripts/install-deps installs them.
# Usage: tests/pg_tle_test.sh path/to/ectowatch
set -uo pipefail

cli="$(realpath "$1")"
cd "$(dirname "$0")/.."
version="$(sed -n "s/^default_version = '\([0-9.]*\)'.*/\1/p" ectowatch.control)"
tle_script="$(dirname "$cli")/portable/ectowatch-pg-tle--$version.sql.in"
tarball="${PG_TLE_TARBALL:-$(pwd)/tests/vendor/pg_tle-1.5.2.tar.gz}"
if [ ! -e "$tarball" ]; then
  echo "SKIP pg_tle_test: no pg_tle source at $tarball (test material only; PG_TLE_TARBALL names another)"
  exit 77
fi
for need in "$(command -v flex)" /usr/include/krb5.h "$tle_script"; do
  if [ ! -e "$need" ]; then
    echo "FAIL pg_tle_test cannot run: ${need:-flex} is missing (flex and libkrb5-dev build pg_tle;" \
      "scripts/install-deps installs them)"
    exit 1
  fi
done
source tests/lib/check.sh
source scripts/lib/plain_server.sh
start_plain_server || exit 1
work="$(mktemp -d)"
previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"; '"${previous_trap:-:}" EXIT

# pg_tle into the server's copy alone (its pg_config names the copy), then preloaded.
ln -s /usr/include "$PLAIN_ROOT/usr/include"
tar xzf "$tarball" -C "$work"
(cd "$work"/pg_tle-* && make -s USE_PGXS=1 PG_CONFIG="$PG_BINDIR/pg_config" >"$work/build.log" 2>&1 &&
  make -s USE_PGXS=1 PG_CONFIG="$PG_BINDIR/pg_config" install >>"$work/build.log" 2>&1) ||
  { cat "$work/build.log"; echo "FAIL pg_tle did not build"; exit 1; }
echo "shared_preload_libraries = 'pg_tle'" | as_cluster_owner tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w restart >/dev/null || exit 1
PGDATABASE="$PLAIN_APP_DB" sql "CREATE EXTENSION pg_tle" && sql "GRANT pgtle_admin TO $PLAIN_APP"
export PGUSER="$PLAIN_APP" PGDATABASE="$PLAIN_APP_DB"
check "the server has no ectowatch files" "0" "$(ls "$PLAIN_ROOT"/usr/share/postgresql/*/extension/ | grep -c '^ectowatch')"
check "the role is no superuser" "f" "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"

check "install --pg-tle" "installed the portable edition of ectowatch $version through pg_tle (CREATE EXTENSION ectowatch) in schema public" \
  "$("$cli" install --pg-tle 2>&1)"
check "it is an extension" "$version" "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'ectowatch'")"
check "ectowatch --version sees it" "ectowatch extension $version" "$("$cli" --version | tail -1)"
check "its catalog is a configuration table (pg_dump keeps the watchers)" "1" \
  "$(sql "SELECT cardinality(extconfig) FROM pg_extension WHERE extname = 'ectowatch'")"

sql "CREATE TABLE items (id int PRIMARY KEY, note text)"
"$cli" watch items inserted --extra-columns note >/dev/null
"$cli" watch items updated --delivery durable >/dev/null
"$cli" listen --slot tle_slot --timeout 0.5 items_updated >/dev/null 2>&1 # creates the slot
listen_and_write() { # the notifications one session gets for its writes
  psql -X -q 2>&1 <<SQL | grep '^Asynchronous' | sed 's/ received from server process with PID [0-9]*\.$//'
LISTEN items_inserted;
INSERT INTO items VALUES ($1, 'note $1');
UPDATE items SET note = 'changed' WHERE id = $1;
SQL
}
check "a notify watcher sends" \
  "Asynchronous notification \"items_inserted\" with payload \"{\"v\":1,\"op\":\"inserted\",\"table\":\"public.items\",\"label\":\"items_inserted\",\"key\":[\"id\"],\"rows\":[{\"id\":1,\"note\":\"note 1\"}]}\"" \
  "$(listen_and_write 1)"
check "a durable watcher is read through pgoutput" '{"label":"items_updated","table":"public.items","op":"updated","row":{"id":1}}' \
  "$("$cli" listen --slot tle_slot --count 1 --timeout 20 items_updated 2>&1)"
check "the slot is pgoutput's" "pgoutput" "$(sql "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'tle_slot'")"

check "install --pg-tle again changes nothing" "the extension ectowatch $version is installed through pg_tle already" \
  "$("$cli" install --pg-tle 2>&1)"
"$cli" install --portable >"$work/out" 2>"$work/err"
check "install --portable is refused where it is an extension" "1" \
  "$(grep -c 'ectowatch is an extension in this database' "$work/err" || cat "$work/err")"

# The next version's update: pg_tle runs the same idempotent script as its update script.
"$cli" watchers >"$work/watchers.before"
psql -X -q -v ON_ERROR_STOP=1 -v script="$(cat "$tle_script")" >/dev/null <<'SQL'
SELECT pgtle.install_update_path('ectowatch', (SELECT extversion FROM pg_extension WHERE extname = 'ectowatch'), '99.0.0', :'script');
ALTER EXTENSION ectowatch UPDATE TO '99.0.0';
SQL
check "ALTER EXTENSION ectowatch UPDATE through pg_tle" "99.0.0" "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'ectowatch'")"
check "keeps every watcher" "$(cat "$work/watchers.before")" "$("$cli" watchers)"
check "which still send" \
  "Asynchronous notification \"items_inserted\" with payload \"{\"v\":1,\"op\":\"inserted\",\"table\":\"public.items\",\"label\":\"items_inserted\",\"key\":[\"id\"],\"rows\":[{\"id\":2,\"note\":\"note 2\"}]}\"" \
  "$(listen_and_write 2)"
check "and the durable one too" '{"label":"items_updated","table":"public.items","op":"updated","row":{"id":2}}' \
  "$("$cli" listen --slot tle_slot --count 1 --timeout 20 items_updated 2>&1)"
check_no_crash

echo "pg_tle_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
