#!/usr/bin/env bash
# The message key (extension/message_auth.hpp), on a cluster of its own:
# - it is made once, mode 0600, in the data directory;
# - unsigned messages already in a slot when the key is made (what ectowatch
#   without message MACs wrote before an upgrade) are still delivered, a message with no MAC
#   written after is not;
# - a signed message whose key file was replaced stops decoding with an ERROR
#   (SQLSTATE XX001) instead of being skipped.
# Run by scripts/test; needs the extension installed.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
start_cluster "wal_level = logical" "max_replication_slots = 10" "max_wal_senders = 10" \
  "output_plugin_libraries = 'pgoutput, test_decoding, ectowatch'" "shared_preload_libraries = 'ectowatch'" || exit 1
fail() { echo "FAIL message_key: $*" >&2; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
restart() {
  as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -m fast -w restart >/dev/null || fail "restart"
}
key="$CLUSTER_DIR/data/ectowatch_message_key"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION ectowatch" -c "CREATE TABLE k (id int PRIMARY KEY)" \
  -c "SELECT ectowatch_watch('k', 'inserted', delivery => 'durable')" >/dev/null || fail "setup"
q -c "SELECT 1 FROM pg_create_logical_replication_slot('keyed', 'ectowatch')" >/dev/null || fail "slot"
[ -f "$key" ] || fail "creating an ectowatch slot made no key file"
[ "$(stat -c %a "$key")" = 600 ] || fail "key file mode $(stat -c %a "$key"), expected 600"
[ "$(stat -c %s "$key")" = 48 ] || fail "key file size $(stat -c %s "$key")"
before="$(md5sum <"$key")"
restart
q -c "INSERT INTO k VALUES (1)" || fail "insert"
[ "$(md5sum <"$key")" = "$before" ] || fail "the key changed across a restart"

# An older ectowatch's backlog: the key is gone (as before message MACs), an unsigned
# message is written while the slot exists, then the first signed one makes
# the key; the unsigned one predates it and is delivered.
q -c "SELECT data FROM pg_logical_slot_get_changes('keyed', NULL, NULL)" >/dev/null || fail "drain"
rm -f "$key"
restart
legacy='{"v":1,"op":"inserted","table":"public.k","label":"k_inserted","key":["id"],"rows":[{"id":2}]}'
q -c "SELECT 1 FROM pg_logical_emit_message(true, 'ectowatch', '$legacy')" >/dev/null || fail "emit"
q -c "INSERT INTO k VALUES (3)" || fail "insert"
q -c "SELECT 1 FROM pg_logical_emit_message(true, 'ectowatch', '{\"forged\":4}')" >/dev/null || fail "emit"
got="$(q -c "SET client_min_messages = error" \
  -c "SELECT data FROM pg_logical_slot_peek_changes('keyed', NULL, NULL) WHERE data <> ''")" || fail "peek"
expected="$legacy
{\"v\":1,\"op\":\"inserted\",\"table\":\"public.k\",\"label\":\"k_inserted\",\"key\":[\"id\"],\"rows\":[{\"id\":3}]}"
[ "$got" = "$expected" ] || fail "backlog: got
$got
expected
$expected"

# The key replaced while signed messages wait: decoding stops, and says why.
rm -f "$key"
restart
out="$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT data FROM pg_logical_slot_peek_changes('keyed', NULL, NULL)" 2>&1)"
grep -q "XX001: ectowatch: the message at WAL position .* was signed with a key this cluster no longer has" <<<"$out" ||
  fail "a signed message under a replaced key was not refused: $out"
grep -q "HINT:  Restore ectowatch_message_key" <<<"$out" || fail "no hint: $out"
check_no_crash || exit 1
echo "ok message key"
