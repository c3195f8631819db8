# The test suites that run against a server, shared by scripts/test (the
# machine's own PostgreSQL) and scripts/test-versions (one server per
# version). Source it; results are counted in $passed and $failed.
#
# A server here is described by the PG* environment (PGHOST, PGPORT, PGUSER)
# and, for the suites that restart it, by SERVER_CTL: a command that runs
# pg_ctl for that server with the arguments appended (its data directory and
# log already given), as the user that owns the cluster.

passed=${passed:-0}
failed=${failed:-0}

# postgresql.conf lines every test server gets. The output plugin test creates
# a logical slot: wal_level = logical, and Debian's builds only load output
# plugins listed in output_plugin_libraries. The relay needs the library
# preloaded (its launcher and shared memory). The suites share one server and
# its slots: tests/nats_listen_test.sh alone holds nine at once, and a slot
# the server has no room for stops a bridge at its start, so the budget is
# well above what they use together.
TEST_SERVER_SETTINGS=(
  "wal_level = logical" "max_replication_slots = 32" "max_wal_senders = 32"
  "output_plugin_libraries = 'pgoutput, test_decoding, ectowatch'" "shared_preload_libraries = 'ectowatch, pg_stat_statements'"
)

# The project's own builds treat warnings as errors (a user's build does not):
# the PGXS Makefile reads ECTOWATCH_WERROR from the environment.
export ECTOWATCH_WERROR=1

# CMake flags of the client, CLI and unit tests (one build dir serves every server).
CLIENT_BUILD_DIR=build
CLIENT_BUILD_FLAGS=(-DCMAKE_BUILD_TYPE=Debug -DECTOWATCH_SANITIZE=ON -DECTOWATCH_WERROR=ON)

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); }

# count_results OUTPUT: pg_regress/pg_isolation_regress lines ("ok", "... ok", "FAILED").
count_results() {
  local output="$1"
  passed=$((passed + $(grep -cE '^(ok|test) .* \.\.\. ok|^ok ' <<<"$output" || true)))
  failed=$((failed + $(grep -cE '\.\.\. FAILED|^not ok ' <<<"$output" || true)))
}

# build_client_tests: the CMake build with AddressSanitizer and UBSan; sets cmake_ok.
build_client_tests() {
  cmake_ok=1
  cmake -S . -B "$CLIENT_BUILD_DIR" "${CLIENT_BUILD_FLAGS[@]}" >/dev/null &&
    cmake --build "$CLIENT_BUILD_DIR" -j"$(nproc)" >/dev/null || cmake_ok=0
  if [ $cmake_ok = 0 ]; then
    echo "FAIL: the CMake build failed"
    cmake --build "$CLIENT_BUILD_DIR" 2>&1 | tail -40
    fail
  fi
}

# run_regress_suites RESULTS_DIR COMMAND...: runs `make installcheck` through
# COMMAND (which may run it elsewhere), counts its tests and shows the diffs
# (found under RESULTS_DIR, the checkout's copy where it ran).
run_regress_suites() {
  local results_dir="$1"
  shift
  local output status
  output="$("$@" 2>&1)"
  status=$?
  echo "$output"
  count_results "$output"
  if [ $status -ne 0 ]; then
    for diffs in "$results_dir"/tests/results/regression.diffs "$results_dir"/tests/results-isolation/regression.diffs; do
      [ -s "$diffs" ] && { echo "---- $diffs"; cat "$diffs"; }
    done
    # A failure that is not a failed test (the suite did not run) counts once.
    [ "$(grep -cE 'FAILED|^not ok ' <<<"$output")" -gt 0 ] || fail
  fi
}

# run_client_suites: the client library's server suites, the CLI tests and the
# durable CLI test, on the server of the PG* environment (SERVER_CTL restarts it).
run_client_suites() {
  [ "${cmake_ok:-0}" = 1 ] || return 0
  # ectowatch_latin1_test: messages are UTF-8 whatever the database encoding
  # (tests/client/encoding_test.cpp), relayed too.
  psql -X -q -d postgres -c "CREATE DATABASE ectowatch_client_test" &&
    psql -X -q -d ectowatch_client_test -c "SET client_min_messages = warning" -c "CREATE EXTENSION ectowatch" &&
    psql -X -q -d postgres -c "CREATE DATABASE ectowatch_latin1_test ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" &&
    psql -X -q -d ectowatch_latin1_test -c "SET client_min_messages = warning" -c "CREATE EXTENSION ectowatch" &&
    psql -X -q -d postgres -c "ALTER SYSTEM SET ectowatch.relay_databases = 'ectowatch_client_test, ectowatch_latin1_test'" \
      -c "SELECT pg_reload_conf()" >/dev/null # its relay worker starts now (tests/client/relay_test.cpp)
  export ECTOWATCH_TEST_RESTART="$SERVER_CTL -m fast -w restart >/dev/null"
  export ECTOWATCH_TEST_RESTART_IMMEDIATE="$SERVER_CTL -m immediate -w restart >/dev/null"
  export ECTOWATCH_TEST_STOP="$SERVER_CTL -m fast -w stop >/dev/null"
  export ECTOWATCH_TEST_START="$SERVER_CTL -w start >/dev/null"
  if (cd "$CLIENT_BUILD_DIR" && PGDATABASE=ectowatch_client_test ctest --output-on-failure -L server); then pass; else fail; fi
  echo "== command-line tool"
  if PGDATABASE=ectowatch_client_test bash tests/cli_test.sh "$CLIENT_BUILD_DIR/ectowatch"; then pass; else fail; fi
  echo "== an Asio event loop (examples/asio_listener.cpp) across terminated connections"
  if PGDATABASE=ectowatch_client_test bash tests/asio_test.sh "$CLIENT_BUILD_DIR/asio_listener"; then pass; else fail; fi
  echo "== durable delivery through the command-line tool (SIGKILL, server restart)"
  if PGDATABASE=ectowatch_client_test bash tests/durable_cli_test.sh "$CLIENT_BUILD_DIR/ectowatch"; then pass; else fail; fi
}

# check_server_log LOG: no backend crashed during the run (cluster.sh's check).
check_server_log() {
  local log="$1"
  if ! check_no_crash "$log"; then
    echo "---- last lines of the server log"
    tail -n 50 "$log"
    fail
  else
    echo "ok no crashed backend"
    pass
  fi
}
