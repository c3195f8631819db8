#!/usr/bin/env bash
# Relayed notifications reach every connected listener (issue 14, case 8): a
# bounded loop of pgbench TPC-B runs on tables with relayed watchers, on a
# fresh cluster of its own, comparing the relay worker's notifications_sent
# with what two psycopg2 listeners and $CLISTEN_COUNT (default 2) plain libpq
# listeners received (tests/relay_pgbench/run.py). tests/relay_window_test.sh
# is the deterministic test of the cause this loop found.
# Usage: [CLISTEN_COUNT=N] relay_pgbench_test.sh [RUNS [SECONDS [CLIENTS]]]   (default 6 runs of 5 s, 4 clients)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
runs="${1:-6}" seconds="${2:-5}" clients="${3:-4}"
start_cluster "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" \
  "output_plugin_libraries = 'pgoutput, test_decoding, ectowatch'" "shared_preload_libraries = 'ectowatch'" || exit 1
psql -X -q -c "CREATE DATABASE bench" && "$PG_BINDIR/pgbench" -i -q -s 1 bench >/dev/null 2>&1 || exit 1
psql -X -q -c "ALTER SYSTEM SET ectowatch.relay_databases = 'bench'" -c "SELECT pg_reload_conf()" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION ectowatch;
-- TPC-B updates one branch (scale 1) in every transaction: many source
-- transactions of one relay round carry byte-identical messages.
SELECT ectowatch_watch('pgbench_branches', 'updated', delivery => 'relay');
SELECT ectowatch_watch('pgbench_tellers', 'updated', delivery => 'relay');
SELECT ectowatch_watch('pgbench_accounts', 'updated', delivery => 'relay');
SELECT ectowatch_watch('pgbench_history', 'inserted', key_columns => ARRAY['tid', 'bid', 'aid', 'delta'],
                       delivery => 'relay');
SQL
# A third and fourth listener in plain libpq: a difference between them and
# the psycopg2 ones tells where a notification was lost.
listen_bin="$CLUSTER_DIR/listen"
cc -O2 -o "$listen_bin" tests/relay_pgbench/listen.c -I"$(pg_config --includedir)" -L"$(pg_config --libdir)" -lpq || exit 1
export CLISTEN="$listen_bin" CLISTEN_COUNT="${CLISTEN_COUNT:-2}"
status=0
PATH="$PG_BINDIR:$PATH" /usr/bin/python3 tests/relay_pgbench/run.py "dbname=bench" "$runs" "$seconds" "$clients" || status=1
check_no_crash || status=1
exit $status
