#!/usr/bin/env bash
# `cmake --install` gives a usable library: a program outside the project
# builds against it with find_package(ectowatch) and with pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake -S . -B "$work/build" -DECTOWATCH_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null
cmake --install "$work/build" >/dev/null
version="$(sed -n "s/^default_version = '\([0-9.]*\)'.*/\1/p" ectowatch.control)"
cmake -S tests/install -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DECTOWATCH_VERSION="$version" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer/consumer" | grep -q "^caught: cannot connect"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
[ "$(pkg-config --modversion ectowatch)" = "$version" ] # the extension's version, too
# shellcheck disable=SC2046
g++ -std=c++20 tests/install/main.cpp $(pkg-config --cflags --libs ectowatch) -o "$work/with_pkg_config"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/with_pkg_config" | grep -q "^caught: cannot connect"
[ -x "$work/prefix/bin/ectowatch" ]
echo "ok install"
