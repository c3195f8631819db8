#!/usr/bin/env bash
# `cmake --install` gives a usable library: a program outside the project
# builds against it with find_package(ectowatch) and with pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake -S . -B "$work/build" -DECTOWATCH_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
# No build type given, as in a user's first build: it is Release (optimised).
grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$work/build/CMakeCache.txt" ||
  { echo "FAIL: a build without CMAKE_BUILD_TYPE is not Release"; exit 1; }
cmake --build "$work/build" -j"$(nproc)" >/dev/null
cmake --install "$work/build" >/dev/null
version="$(sed -n "s/^default_version = '\([0-9.]*\)'.*/\1/p" ectowatch.control)"
cmake -S tests/install -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DECTOWATCH_VERSION="$version" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer/consumer" | grep -q "^caught: cannot connect"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
[ "$(pkg-config --modversion ectowatch)" = "$version" ] # the extension's version, too
# shellcheck disable=SC2046
# The .pc file forces no -std: the consumer's own standard (C++20 or later) is kept.
if pkg-config --cflags ectowatch | grep -q -- '-std='; then echo "FAIL: the .pc file sets -std"; exit 1; fi
g++ -std=c++23 tests/install/main.cpp $(pkg-config --cflags --libs ectowatch) -o "$work/with_pkg_config"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/with_pkg_config" | grep -q "^caught: cannot connect"
# A consumer built with an older standard meets one clear error first, from
# the first header it includes, not a std::span error deep inside them.
first_error="$(g++ -std=c++17 -fsyntax-only tests/install/main.cpp $(pkg-config --cflags ectowatch) 2>&1 | grep -m1 'error' || true)"
grep -q 'ectowatch needs C++20 or later' <<<"$first_error" ||
  { echo "FAIL: a C++17 consumer's first error is: $first_error"; exit 1; }
# The installed tool finds the installed library by itself (its run path),
# with no environment at all, from a prefix that is not a system directory.
[ -x "$work/prefix/bin/ectowatch" ]
env -i "$work/prefix/bin/ectowatch" --help | grep -q "^ectowatch: PostgreSQL row changes"
echo "ok install"
