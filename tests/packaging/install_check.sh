#!/usr/bin/env bash
# Install bboauth into a staging directory, then build a separate program
# against it with pkg-config only (shared, then static), and run it.
set -euo pipefail
build_root=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build_root" --destdir "$stage" --no-rebuild --quiet >/dev/null
pc=$(find "$stage" -name bboauth.pc | head -n 1)
[ -n "$pc" ] || { echo "no bboauth.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage
echo "bboauth.pc: $(pkg-config --modversion bboauth)"
grep -E '^(Requires.private|Libs.private):' "$pc"

cc -std=c99 -Wall -Werror -o "$stage/consumer" "$source_dir/consumer.c" \
    $(pkg-config --cflags --libs bboauth)
libdir=$(dirname "$(find "$stage" -name 'libbboauth.so.0' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$stage/consumer"

# the static archive with the dependencies the .pc declares; those are
# linked dynamically (a fully static libcurl needs its own static deps)
libs_private=$(sed -n 's/^Libs.private: //p' "$pc")
cc -std=c99 -Wall -Werror -o "$stage/consumer-static" "$source_dir/consumer.c" \
    $(pkg-config --cflags bboauth) "$libdir/libbboauth.a" \
    $(pkg-config --libs libcurl yajl) $libs_private
"$stage/consumer-static"

# only bbo_ symbols are exported
if nm -D --defined-only "$libdir/libbboauth.so.0" | awk '$2 != "A" {print $3}' | grep -v '^bbo_'; then
    echo "symbols without the bbo_ prefix are exported"; exit 1
fi
echo "installed headers: $(find "$stage" -name '*.h' | wc -l)"
