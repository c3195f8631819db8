# Shared by the shell test scripts (source it): `check NAME EXPECTED ACTUAL`
# counts into $passed / $failed and prints what differed; `sql STATEMENT` runs
# one statement on the test server (PG* environment), values unaligned.
passed=0
failed=0

check() { # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1"$'\n'"  expected: $2"$'\n'"  actual:   $3"
  fi
}
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$1"; }
# wait_for_listeners N: until N `ectowatch listen` sessions of this database
# have run their LISTEN commands (a fixed sleep loses the first rows to a
# listener that a loaded machine started late). Gives up after 30 s.
wait_for_listeners() {
  local tries=0
  until [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                    AND application_name = 'ectowatch listen' AND state = 'idle' AND query LIKE 'LISTEN %'")" -ge "$1" ]; do
    tries=$((tries + 1))
    [ $tries -lt 300 ] || { echo "FAIL: $1 listener(s) did not start within 30 s"; return 1; }
    sleep 0.1
  done
}
