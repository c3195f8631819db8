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
