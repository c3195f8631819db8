#!/usr/bin/env bash
# Relayed notifications reach a listener that reads the notification queue
# while the relay worker is committing (issue 14, case 8): deterministic, with
# the worker held by gdb between queueing and committing
# (tests/relay_window/check.py). On a fresh cluster of its own.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
start_cluster "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" \
  "output_plugin_libraries = 'pgoutput, test_decoding, ectowatch'" "shared_preload_libraries = 'ectowatch'" || exit 1
psql -X -q -c "CREATE DATABASE window_test" -c "ALTER SYSTEM SET ectowatch.relay_databases = 'window_test'" \
  -c "SELECT pg_reload_conf()" >/dev/null || exit 1
psql -X -q -v ON_ERROR_STOP=1 -d window_test >/dev/null <<'SQL' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION ectowatch;
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 0), (2, 0);
SELECT ectowatch_watch('t', 'updated', delivery => 'relay');
SQL
scratch="$CLUSTER_DIR/gdb"
mkdir -p "$scratch"
status=0
timeout 120 /usr/bin/python3 tests/relay_window/check.py "dbname=window_test" "$scratch" || status=1
check_no_crash || status=1
exit $status
