#!/usr/bin/env bash
# Watchers survive pg_dump and restore: the catalog rows (a configuration table
# of the extension) and the triggers come back (row triggers, and the DELETE
# watcher's statement trigger over its transition table), and the restored
# database sends the same messages. Needs PGHOST/PGPORT/PGUSER of a running server.
set -euo pipefail

fail() { echo "FAIL dump_restore: $*" >&2; exit 1; }
run() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for db in ectowatch_dump_src ectowatch_dump_dst; do
  run -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done

run -d ectowatch_dump_src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ectowatch;
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id int PRIMARY KEY, customer int, status text);
CREATE TABLE parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
SELECT ectowatch_watch('shop.orders', 'inserted', extra_columns => ARRAY['customer']);
SELECT ectowatch_watch('shop.orders', 'updated', label => 'order_done', trigger_columns => ARRAY['status'],
                       condition => $$NEW.status = 'done'$$, replicated => true);
SELECT ectowatch_watch('shop.orders', 'deleted');
-- Its TRUNCATE trigger and this label's row trigger had one name before 0.5.0.
SELECT ectowatch_watch('shop.orders', 'inserted', label => 'orders_deleted_tr');
SELECT ectowatch_watch('parted', 'inserted');
SQL

pg_dump -d ectowatch_dump_src -f "$work/dump.sql"
run -d ectowatch_dump_dst -f "$work/dump.sql" >/dev/null

listing="SELECT label, table_name, op, channel, key_columns, extra_columns, trigger_columns, condition, replicated
           FROM ectowatch_watchers ORDER BY label"
triggers="SELECT pg_get_triggerdef(oid), tgenabled FROM pg_trigger WHERE tgname LIKE 'ectowatch%' ORDER BY 1"
for query in "$listing" "$triggers"; do
  before="$(run -d ectowatch_dump_src -At -c "$query")"
  after="$(run -d ectowatch_dump_dst -At -c "$query")"
  [ -n "$before" ] || fail "nothing listed by: $query"
  [ "$before" = "$after" ] || fail "differs after restore: $query"$'\n'"before: $before"$'\n'"after: $after"
done

# The restored watchers send messages (psql prints its own notifications).
out="$(run -d ectowatch_dump_dst \
  -c "LISTEN orders_inserted" -c "LISTEN order_done" -c "LISTEN parted_inserted" -c "LISTEN orders_deleted" \
  -c "LISTEN orders_deleted_tr" \
  -c "INSERT INTO shop.orders VALUES (1, 7, 'new'), (2, 8, 'new')" -c "UPDATE shop.orders SET status = 'done' WHERE id = 1" \
  -c "INSERT INTO parted_eu VALUES (5, 'eu')" -c "DELETE FROM shop.orders WHERE id = 2" -c "TRUNCATE shop.orders" 2>&1)"
for expected in \
  '{"v":1,"op":"inserted","table":"shop.orders","label":"orders_inserted","key":["id"],"rows":[{"id":1,"customer":7},{"id":2,"customer":8}]}' \
  '{"v":1,"op":"deleted","table":"shop.orders","label":"orders_deleted","key":["id"],"rows":[{"id":2}]}' \
  '{"v":1,"op":"truncated","table":"shop.orders","label":"orders_deleted","key":["id"],"rows":[]}' \
  '{"v":1,"op":"inserted","table":"shop.orders","label":"orders_deleted_tr","key":["id"],"rows":[{"id":1},{"id":2}]}' \
  '{"v":1,"op":"updated","table":"shop.orders","label":"order_done","key":["id"],"rows":[{"id":1}]}' \
  '{"v":1,"op":"inserted","table":"public.parted","label":"parted_inserted","key":["id","region"],"rows":[{"id":5,"region":"eu"}]}'; do
  grep -qF "payload \"$expected\"" <<<"$out" || fail "restored database did not send $expected; psql said: $out"
done

# A second dump of the restored database holds each catalog row once.
pg_dump -d ectowatch_dump_dst -f "$work/dump2.sql"
rows="$(grep -c '^order_done' "$work/dump2.sql" || true)"
[ "$rows" = 1 ] || fail "order_done appears $rows times in the second dump"

for db in ectowatch_dump_src ectowatch_dump_dst; do run -d postgres -c "DROP DATABASE $db"; done
echo "ok dump_restore"
