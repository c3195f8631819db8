#!/usr/bin/env bash
# The `ectowatch` command-line tool against the running test server
# (PGHOST/PGPORT/PGUSER/PGDATABASE): output lines, filters, exit codes.
# Usage: tests/cli_test.sh path/to/ectowatch
set -uo pipefail

cli="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null' EXIT

source "$(dirname "$0")/lib/check.sh"

sql "DROP TABLE IF EXISTS cli_users, cli_members CASCADE"
sql "CREATE TABLE cli_users (id int PRIMARY KEY, email text, name text)"
sql "CREATE TABLE cli_members (org_id int, user_name text, role text, PRIMARY KEY (org_id, user_name))"

# watch / watchers / unwatch
# Hints follow the cause: a table that does not exist is a name to check; a
# database without the extension needs CREATE EXTENSION.
"$cli" watch no_such_table updated 2>"$work/err"; check "watch of a missing table exits 1" "1" "$?"
check "and hints at the table's name" "1" "$(grep -c "^hint: check the table's name" "$work/err")"
check "not at the extension" "0" "$(grep -c 'CREATE EXTENSION' "$work/err")"
sql "DROP DATABASE IF EXISTS cli_no_extension" && sql "CREATE DATABASE cli_no_extension"
"$cli" watch --dsn "dbname=cli_no_extension" cli_users updated 2>"$work/err"
check "without the extension: the hint says CREATE EXTENSION" "1" "$(grep -c '^hint: .*run CREATE EXTENSION ectowatch;' "$work/err")"
check "and not the server's type-cast hint" "0" "$(grep -c 'explicit type casts' "$work/err")"
sql "DROP DATABASE cli_no_extension"
check "watch prints the label" "cli_users_updated" "$("$cli" watch cli_users updated --extra-columns email,name)"
check "watch with options" "cli_users_mail" \
  "$("$cli" watch cli_users updated --label cli_users_mail --trigger-columns email --condition "NEW.email IS NOT NULL")"
"$cli" watch cli_users inserted >/dev/null
"$cli" watch cli_users deleted --extra-columns email >/dev/null
"$cli" watch cli_members inserted --extra-columns role >/dev/null
listing="$("$cli" watchers)"
check "watchers lists a watcher" "1" "$(grep -c '^cli_users_mail  *cli_users  *updated  *id  *email  *NEW.email IS NOT NULL  *no  *notify$' <<<"$listing")"
check "watch --delivery durable" "cli_members_durable" "$("$cli" watch cli_members deleted --label cli_members_durable --delivery durable)"
check "watchers shows the delivery" "1" "$("$cli" watchers | grep -c '^cli_members_durable .* durable$')"
"$cli" watch cli_members deleted --delivery pigeon 2>/dev/null; check "a bad delivery is a usage error" "2" "$?"
"$cli" watch cli_users updated --extra-columns nope 2>"$work/err"; status=$?
check "watch with an unknown column exits 1" "1" "$status"
check "and says why" "1" "$(grep -c 'column "nope"' "$work/err")"
check "the server's message once, no PL/pgSQL CONTEXT" "1 0" \
  "$(grep -c 'column "nope"' "$work/err") $(grep -c 'CONTEXT\|PL/pgSQL' "$work/err")"
check "its hint at most once" "1" "$(( $(grep -ci 'hint' "$work/err") <= 1 ))"
check "watch --delivery relay" "cli_members_relay" \
  "$("$cli" watch cli_members updated --label cli_members_relay --delivery relay)"
"$cli" unwatch cli_members_relay >/dev/null
"$cli" listen --count 0 cli_users_updated 2>"$work/err"; check "listen --count 0 is a usage error" "2" "$?"
check "and says what a count is" "1" "$(grep -c 'a number of row lines, 1 or more' "$work/err")"
check "--version prints the client's and the extension's versions" "ectowatch client 1 ectowatch extension 1" \
  "$("$cli" --version | sed -E 's/ [0-9]+\.[0-9]+\.[0-9]+$/ 1/' | paste -sd' ')"
"$cli" watch cli_users sideways 2>/dev/null; status=$?
check "watch with a bad op is a usage error" "2" "$status"

# listen: one line per row, filters, --count
"$cli" listen --count 3 --timeout 20 cli_users_updated cli_users_inserted >"$work/all" 2>"$work/all.err" &
all_pid=$!
"$cli" listen --count 1 --timeout 20 "cli_users_updated:id=2" >"$work/one" 2>&1 &
one_pid=$!
"$cli" listen --count 1 --timeout 20 "cli_members_inserted:org_id=7,user_name=ann" >"$work/member" 2>&1 &
member_pid=$!
wait_for_listeners 3
sql "INSERT INTO cli_users VALUES (1, 'a@x', 'A \"quoted\"'), (2, 'b@x', 'B')"
sql "UPDATE cli_users SET name = 'Bee' WHERE id = 2"
sql "INSERT INTO cli_members VALUES (7, 'bob', 'x'), (8, 'ann', 'y'), (7, 'ann', 'admin')"
wait $all_pid; check "listen --count exits 0" "0" "$?"
wait $one_pid; check "filtered listen exits 0" "0" "$?"
wait $member_pid; check "two-condition listen exits 0" "0" "$?"
check "row lines, in order" \
'{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":1}}
{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":2}}
{"label":"cli_users_updated","table":"public.cli_users","op":"updated","row":{"id":2,"email":"b@x","name":"Bee"}}' \
  "$(cat "$work/all")"
check "filter on the key" '{"label":"cli_users_updated","table":"public.cli_users","op":"updated","row":{"id":2,"email":"b@x","name":"Bee"}}' "$(cat "$work/one")"
check "all conditions must match" '{"label":"cli_members_inserted","table":"public.cli_members","op":"inserted","row":{"org_id":7,"user_name":"ann","role":"admin"}}' "$(cat "$work/member")"

# Consecutive messages: the first row of the second one is printed too (a
# freed message's address may be reused for the next one).
"$cli" listen --count 3 --timeout 20 cli_users_updated cli_users_deleted >"$work/consecutive" 2>&1 &
consecutive_pid=$!
wait_for_listeners 1
sql "UPDATE cli_users SET name = 'Ay' WHERE id = 1"
sql "DELETE FROM cli_users WHERE id IN (1, 2)"
wait $consecutive_pid; check "consecutive messages exit 0" "0" "$?"
check "consecutive messages print every row" \
'{"label":"cli_users_updated","table":"public.cli_users","op":"updated","row":{"id":1,"email":"a@x","name":"Ay"}}
{"label":"cli_users_deleted","table":"public.cli_users","op":"deleted","row":{"id":1,"email":"a@x"}}
{"label":"cli_users_deleted","table":"public.cli_users","op":"deleted","row":{"id":2,"email":"b@x"}}' "$(cat "$work/consecutive")"

# A closed output pipe ends listen with 0, not SIGPIPE's 141
( "$cli" listen --timeout 20 cli_users_inserted | head -1 >"$work/head"; echo "${PIPESTATUS[0]}" >"$work/head_status" ) &
head_pid=$!
wait_for_listeners 1
sql "INSERT INTO cli_users VALUES (901, 'h1@x', 'h1')"
sleep 0.3
sql "INSERT INTO cli_users VALUES (902, 'h2@x', 'h2')"
wait $head_pid
check "listen | head -1 prints one line" "1" "$(grep -c '"id":901' "$work/head")"
check "and listen exits 0 when the pipe closes" "0" "$(cat "$work/head_status")"
sql "DELETE FROM cli_users WHERE id IN (901, 902)"

# ... also while idle: one row, then nothing more. With --count 5 the
# --timeout would end it with 3; 0 shows it noticed the closed pipe by itself.
( timeout 60 "$cli" listen --count 5 --timeout 30 cli_users_inserted 2>/dev/null | head -1 >"$work/head"
  echo "${PIPESTATUS[0]}" >"$work/head_status" ) &
head_pid=$!
wait_for_listeners 1
sql "INSERT INTO cli_users VALUES (903, 'h3@x', 'h3')"
wait $head_pid
check "listen | head -1 prints the one line" "1" "$(grep -c '"id":903' "$work/head")"
check "and an idle listen exits 0 once the pipe closed" "0" "$(cat "$work/head_status")"
sql "DELETE FROM cli_users WHERE id = 903"

# TRUNCATE, dropped rows and the truncated flag
"$cli" listen --timeout 3 cli_users_deleted >"$work/deleted" 2>&1 &
deleted_pid=$!
wait_for_listeners 1
sql "INSERT INTO cli_users VALUES (3, repeat('e', 9000), 'big')"
sql "DELETE FROM cli_users WHERE id = 3"
sql "TRUNCATE cli_users"
wait $deleted_pid; check "listen without --count exits 0 at the timeout" "0" "$?"
check "truncated row and TRUNCATE event" \
'{"label":"cli_users_deleted","table":"public.cli_users","op":"deleted","row":{"id":3},"truncated":true}
{"event":"truncated","label":"cli_users_deleted"}' "$(cat "$work/deleted")"

# exit codes
"$cli" listen --count 1 --timeout 1 cli_users_inserted >/dev/null 2>"$work/err"; check "timeout before --count exits 3" "3" "$?"
check "and says why" "1" "$(grep -c -- '--timeout passed after 0 of the 1 rows --count asked for' "$work/err")"
"$cli" listen --timeout 1 no_such_label 2>"$work/err"; check "unknown label exits 1" "1" "$?"
check "and names it" "1" "$(grep -c 'unknown label "no_such_label"' "$work/err")"
"$cli" listen --timeout 1 cli_users_updated:phone=1 2>"$work/err"; check "unknown column exits 1" "1" "$?"
check "and lists the columns" "1" "$(grep -c 'it sends: id, email, name' "$work/err")"
"$cli" listen --timeout 1 "cli_users_updated:id" 2>/dev/null; check "bad target is a usage error" "2" "$?"
"$cli" listen 2>/dev/null; check "no target is a usage error" "2" "$?"
"$cli" listen --dsn "host=/nonexistent port=1" --timeout 1 cli_users_updated 2>"$work/err"; check "no server exits 1" "1" "$?"
check "and says so" "1" "$(grep -c 'cannot connect' "$work/err")"
"$cli" listen --help >/dev/null; check "--help exits 0" "0" "$?"
for sub in watch unwatch watchers; do "$cli" $sub --help >/dev/null; check "$sub --help exits 0" "0" "$?"; done

# SIGTERM flushes and exits 0
"$cli" listen cli_users_inserted >"$work/signal" 2>&1 &
signal_pid=$!
wait_for_listeners 1
sql "INSERT INTO cli_users VALUES (10, 'x', 'y')"
sleep 0.5
kill -TERM $signal_pid
wait $signal_pid; check "SIGTERM exits 0" "0" "$?"
check "after printing what arrived" '{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":10}}' "$(cat "$work/signal")"

# resync after the backend is terminated
"$cli" listen --stats --count 1 --timeout 20 cli_users_inserted >"$work/resync" 2>"$work/resync.err" &
resync_pid=$!
wait_for_listeners 1
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ectowatch listen'" >/dev/null
sleep 1
wait_for_listeners 1 # reconnected
sql "INSERT INTO cli_users VALUES (11, 'x', 'y')"
wait $resync_pid; check "listen survives a terminated backend" "0" "$?"
check "prints resync, then goes on" '{"event":"resync"}
{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":11}}' "$(cat "$work/resync")"
check "listen --stats: the counts on stderr at exit (one row event, one reconnect)" \
  '"events":1 "reconnected":1 "overflows":0,"reconnects":1,"load_queries":0,"loaded_rows":0}' \
  "$(grep -o '"events":[0-9]*' "$work/resync.err") $(grep -o '"reconnected":[0-9]*' "$work/resync.err") $(grep -o '"overflows":.*' "$work/resync.err")"
check "listen --stats: one JSON line" "1" "$(grep -c '^{"messages":1,"bytes":[0-9]*,"events":1,' "$work/resync.err")"

# listen --load: each changed key's current row (one query for the window),
# or its key and "absent" when the row is gone; --load-columns picks columns
"$cli" listen --load --load-window 300 --stats --count 3 --timeout 20 cli_users_inserted cli_users_deleted \
  >"$work/load" 2>"$work/load.err" &
load_pid=$!
"$cli" listen --load --load-columns name --count 1 --timeout 20 cli_users_updated >"$work/load_columns" 2>&1 &
load_columns_pid=$!
wait_for_listeners 2
sql "INSERT INTO cli_users VALUES (20, 'a@x', 'ann'), (21, 'b@x', 'bob');
     UPDATE cli_users SET name = 'ANN' WHERE id = 20; DELETE FROM cli_users WHERE id = 21"
wait $load_pid; check "listen --load exits 0 after --count lines" "0" "$?"
check "listen --load prints the current rows, and absent keys" \
  '{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":20,"email":"a@x","name":"ANN"}}
{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":21},"absent":true}
{"label":"cli_users_deleted","table":"public.cli_users","op":"deleted","row":{"id":21},"absent":true}' "$(cat "$work/load")"
check "listen --load --stats: one load query, one row loaded" '"load_queries":1,"loaded_rows":1}' \
  "$(grep -o '"load_queries":.*' "$work/load.err")"
wait $load_columns_pid; check "listen --load-columns exits 0" "0" "$?"
check "listen --load-columns: the key and the chosen columns" \
  '{"label":"cli_users_updated","table":"public.cli_users","op":"updated","row":{"id":20,"name":"ANN"}}' \
  "$(cat "$work/load_columns")"
"$cli" listen --load "cli_users_updated:id=2" 2>"$work/err"; check "listen --load of LABEL:COLUMN=VALUE is a usage error" "2" "$?"
check "and says to give the label" "1" "$(grep -c 'give LABEL, not LABEL:COLUMN=VALUE' "$work/err")"
"$cli" listen --load-window 5 cli_users_updated 2>/dev/null; check "--load-window without --load is a usage error" "2" "$?"

# ...and after a server restart (scripts/test provides the command)
if [ -n "${ECTOWATCH_TEST_RESTART:-}" ]; then
  "$cli" listen --count 1 --timeout 40 cli_users_inserted >"$work/restart" 2>"$work/restart.err" &
  restart_pid=$!
  wait_for_listeners 1
  bash -c "$ECTOWATCH_TEST_RESTART"
  sleep 2
  wait_for_listeners 1 # reconnected
  sql "INSERT INTO cli_users VALUES (12, 'x', 'y')"
  wait $restart_pid; check "listen survives a server restart" "0" "$?"
  check "prints resync after the restart, then goes on" '{"event":"resync"}
{"label":"cli_users_inserted","table":"public.cli_users","op":"inserted","row":{"id":12}}' "$(cat "$work/restart")"
fi

check "unwatch removes" "removed cli_users_mail" "$("$cli" unwatch cli_users_mail)"
"$cli" unwatch cli_users_mail 2>/dev/null; check "unwatch of a missing label exits 1" "1" "$?"

sql "DROP TABLE cli_users, cli_members CASCADE"

# A LATIN1 database (scripts/test makes it): rows arrive as UTF-8 all the same,
# by NOTIFY and durably (issue 14, case 5). The psql sessions send UTF-8.
if [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = 'ectowatch_latin1_test'")" = 1 ]; then
  latin1() { PGDATABASE=ectowatch_latin1_test PGCLIENTENCODING=UTF8 "$@"; }
  latin1 psql -X -q -c "DROP TABLE IF EXISTS cli_latin1" -c "CREATE TABLE cli_latin1 (id int PRIMARY KEY, name text)" \
    -c "SELECT ectowatch_watch('cli_latin1', 'inserted', extra_columns => '{name}')" \
    -c "SELECT ectowatch_watch('cli_latin1', 'deleted', extra_columns => '{name}', delivery => 'durable')" >/dev/null
  latin1 "$cli" listen --count 1 --timeout 20 cli_latin1_inserted >"$work/latin1" 2>&1 &
  latin1_pid=$!
  latin1 "$cli" listen --slot cli_latin1_slot --count 1 --timeout 1 cli_latin1_deleted >/dev/null 2>&1 # creates the slot
  sleep 1
  latin1 psql -X -q -c "INSERT INTO cli_latin1 VALUES (1, 'café Ærø ÿ')" -c "DELETE FROM cli_latin1" >/dev/null
  wait $latin1_pid; check "latin1: listen exits 0" "0" "$?"
  check "latin1: the row arrives as UTF-8" \
    '{"label":"cli_latin1_inserted","table":"public.cli_latin1","op":"inserted","row":{"id":1,"name":"café Ærø ÿ"}}' \
    "$(cat "$work/latin1")"
  latin1 "$cli" listen --slot cli_latin1_slot --count 1 --timeout 20 cli_latin1_deleted >"$work/latin1_durable" 2>&1
  check "latin1: listen --slot exits 0" "0" "$?"
  check "latin1: the durable row arrives as UTF-8" "1" \
    "$(grep -c '"op":"deleted","row":{"id":1,"name":"café Ærø ÿ"}' "$work/latin1_durable")"
  latin1 "$cli" drop-slot cli_latin1_slot >/dev/null
  latin1 psql -X -q -c "DROP TABLE cli_latin1 CASCADE" >/dev/null
fi
# A relay slot whose database ectowatch.relay_databases no longer lists: no
# worker reads it and its WAL grows, so `slots` says so. The list is put back.
relay_list="$(psql -X -At -c "SELECT current_setting('ectowatch.relay_databases', true)")"
relay_slot="ectowatch_relay_$(psql -X -At -c "SELECT oid FROM pg_database WHERE datname = current_database()")"
if [ -n "$relay_list" ] && [ "$(psql -X -At -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$relay_slot'")" = 1 ]; then
  relisted() { # relisted SECONDS WANT: until `slots` shows the note (WANT=1) or not (0)
    local i
    for ((i = 0; i < $1 * 10; i++)); do
      [ "$("$cli" slots | grep -c "^$relay_slot .*relay slot, database not in ectowatch.relay_databases")" = "$2" ] && return 0
      sleep 0.1
    done
    return 1
  }
  check "slots: the relay slot of a listed database has no note" "1" "$(relisted 10 0 && echo 1)"
  psql -X -q -c "ALTER SYSTEM SET ectowatch.relay_databases = ''" -c "SELECT pg_reload_conf()" >/dev/null
  check "slots: once the database is not listed, its relay slot is named as growing WAL" "1" "$(relisted 30 1 && echo 1)"
  psql -X -q -c "ALTER SYSTEM SET ectowatch.relay_databases = '$relay_list'" -c "SELECT pg_reload_conf()" >/dev/null
  check "slots: listed again, the note goes" "1" "$(relisted 30 0 && echo 1)"
  for ((i = 0; i < 300; i++)); do
    [ "$(psql -X -At -c "SELECT state FROM ectowatch_relay_status WHERE database = current_database()")" = running ] && break
    sleep 0.1
  done
fi
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
