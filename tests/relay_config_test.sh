#!/usr/bin/env bash
# The relay's configuration and first start (issue 14, cases 6 and 7), on a
# cluster of its own: room for two relay workers (max_worker_processes = 4),
# then a restart where the server does not allow the output plugin.
# Run by scripts/test; needs the extension installed and python3-psycopg2.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
start_cluster "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" \
  "output_plugin_libraries = 'pgoutput, test_decoding, ectowatch'" "shared_preload_libraries = 'ectowatch'" \
  "max_worker_processes = 4" || exit 1
checks=tests/relay_config/checks.py
status=0
/usr/bin/python3 $checks first_start || status=1
/usr/bin/python3 $checks unserved || status=1
/usr/bin/python3 $checks created_after_listing || status=1
# This server build loads only the output plugins listed here.
echo "output_plugin_libraries = 'pgoutput, test_decoding'" | as_cluster_owner tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -m fast -w restart >/dev/null || exit 1
/usr/bin/python3 $checks no_plugin || status=1
check_no_crash || status=1
[ $status = 0 ] && echo "ok relay configuration and first start"
exit $status
