#!/usr/bin/env bash
# `make` against PostgreSQL 13 or older stops with one line saying so, before
# compiling anything; 14 and later pass the check. A stand-in pg_config reports
# the version and hands every other question to the real one.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/lib/check.sh

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
real_pg_config="$(command -v "${PG_CONFIG:-pg_config}")"

# make_with VERSION_TEXT: `make -n` with a pg_config that says "PostgreSQL VERSION_TEXT".
make_with() {
  cat >"$work/pg_config" <<SCRIPT
#!/bin/sh
if [ "\$1" = --version ]; then echo "PostgreSQL $1"; exit 0; fi
exec "$real_pg_config" "\$@"
SCRIPT
  chmod +x "$work/pg_config"
  make -n PG_CONFIG="$work/pg_config" 2>&1
}

for version in "13.14 (Debian 13.14-1.pgdg120+1)" "9.6.24" "13devel"; do
  output="$(make_with "$version")"
  status=$?
  found="${version%% *}"
  check "make refuses $found" 2 "$status"
  check "in one line" 1 "$(wc -l <<<"$output")"
  check "that says why" 1 "$(grep -cF "ectowatch needs PostgreSQL 14 or later (found $found)" <<<"$output")"
done
for version in "14.0" "16.4 (Debian 16.4-1)" "18beta1"; do
  output="$(make_with "$version")"
  check "make accepts ${version%% *}" 0 "$(grep -c "needs PostgreSQL" <<<"$output")"
done

echo "make_version_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
