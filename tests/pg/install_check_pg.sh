#!/usr/bin/env bash
# Install into a staging directory, build a program with `pkg-config
# bboauth-pg` only and run it; and check that a program using libbboauth
# alone does not link libpq.
set -euo pipefail
build_root=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build_root" --destdir "$stage" --no-rebuild --quiet >/dev/null
pc=$(find "$stage" -name bboauth-pg.pc | head -n 1)
[ -n "$pc" ] || { echo "no bboauth-pg.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage
grep -q '^Requires: bboauth' "$pc" || { echo "bboauth-pg.pc does not require bboauth"; exit 1; }
[ -n "$(find "$stage" -path '*/bboauth/pg.h')" ] || { echo "pg.h not installed"; exit 1; }
cc -std=c99 -Wall -Werror -o "$stage/consumer-pg" "$source_dir/consumer_pg.c" \
    $(pkg-config --cflags --libs bboauth-pg)
libdir=$(dirname "$(find "$stage" -name 'libbboauth-pg.so.0' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$stage/consumer-pg"

# libbboauth itself never needs libpq
if LD_LIBRARY_PATH=$libdir ldd "$libdir/libbboauth.so.0" | grep -q libpq; then
    echo "libbboauth links libpq"; exit 1
fi
# libbboauth-pg exports bbo_pg_* only
if nm -D --defined-only "$libdir/libbboauth-pg.so.0" | awk '$2 != "A" {print $3}' | grep -v '^bbo_pg_'; then
    echo "libbboauth-pg exports more than bbo_pg_*"; exit 1
fi
echo "libbboauth-pg installed and usable through pkg-config"
