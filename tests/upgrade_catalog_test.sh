#!/usr/bin/env bash
# ALTER EXTENSION ectowatch UPDATE from every older version gives the same
# extension as a fresh CREATE EXTENSION of the newest (issue 17): the same
# tables, columns (in order), constraints, policies, views, functions (bodies
# included), triggers, comments and grants. pg_dump --binary-upgrade is the
# one pg_dump mode that writes out an extension's member objects; what it
# writes about physical storage (OIDs, relfilenodes, frozen xids, a column's
# stored "missing" default) differs between any two databases and is left out.
# Needs PGHOST/PGPORT/PGUSER of a running server (a superuser: binary-upgrade).
set -euo pipefail
cd "$(dirname "$0")/.."

run() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The extension's definition in database $1, without what is physical.
definition() {
  pg_dump --binary-upgrade --schema-only -d "$1" |
    grep -v -e '^\\restrict' -e '^\\unrestrict' -e 'binary_upgrade_set_next_' -e 'binary_upgrade_set_missing_value' \
      -e '^-- set missing value' -e 'relfrozenxid' -e "^WHERE oid = '" |
    sed -E "s/'\{[0-9,]+\}'/'{oids}'/g" | cat -s
}

fresh_db=ectowatch_upgrade_fresh
run -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $fresh_db" -c "CREATE DATABASE $fresh_db"
run -d "$fresh_db" -c "CREATE EXTENSION ectowatch"
newest="$(run -d "$fresh_db" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'ectowatch'")"
definition "$fresh_db" >"$work/fresh.sql"
grep -q "CREATE FUNCTION public.ectowatch_watch" "$work/fresh.sql" || { echo "FAIL upgrade_catalog: pg_dump wrote no member objects" >&2; exit 1; }

failures=0
# Every version an upgrade script starts from (sql/upgrades/FROM--TO.sql).
for from in $(ls sql/upgrades | sed -n 's/^\(.*\)--.*\.sql$/\1/p' | sort -V); do
  db=ectowatch_upgrade_from_${from//./_}
  run -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  run -d "$db" -c "SET client_min_messages = error" -c "CREATE EXTENSION ectowatch VERSION '$from'" \
    -c "ALTER EXTENSION ectowatch UPDATE"
  definition "$db" >"$work/from_$from.sql"
  if diff -u "$work/fresh.sql" "$work/from_$from.sql" >"$work/diff"; then
    echo "ok upgrade_catalog: $from -> $newest equals a fresh $newest"
  else
    echo "FAIL upgrade_catalog: $from -> $newest differs from a fresh $newest (- fresh, + updated):" >&2
    head -60 "$work/diff" >&2
    failures=$((failures + 1))
  fi
  run -d postgres -c "DROP DATABASE $db"
done
run -d postgres -c "DROP DATABASE $fresh_db"
[ "$failures" -eq 0 ]
