#!/usr/bin/env bash
# Write the ABI baseline from a clean build of a git revision (the last
# release): tests/abi/libbboauth.so.0.abi (libabigail's abidw XML) and
# tests/abi/constants.txt (the values of the public constants).
#   bash tests/packaging/abi_baseline.sh [REVISION]     (default: HEAD)
# Run it when a release is tagged, from that tag, and commit the file: the
# abi test (tests/packaging/abi_check.sh) then compares every later build
# with it. See docs/abi.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$rev" | tar -x -C "$work"
# debug info is what gives abidw the types; no tests, examples or man pages
meson setup "$work/build" "$work" -Ddefault_library=shared -Dbuildtype=debugoptimized \
    -Dtests=false -Dexamples=false -Dman=disabled >/dev/null
ninja -C "$work/build" >/dev/null
lib=$(find "$work/build" -name 'libbboauth.so.0' | head -n 1)
# only the public headers' types; no paths or DT_NEEDED that differ between machines
abidw --headers-dir "$work/include/bboauth" --drop-private-types --no-corpus-path \
    --no-comp-dir-path --short-locs --no-elf-needed --type-id-style hash \
    --out-file tests/abi/libbboauth.so.0.abi "$lib"
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$work/meson.build" | head -n 1)
{
    echo "# Public constants of bboauth $version (git $(git rev-parse --short "$rev")): enumerators and integer #defines"
    echo "# (tests/packaging/abi_baseline.sh; checked by tests/packaging/abi_check.sh)"
    bash tests/packaging/abi_constants.sh --list "$work/include/bboauth" |
        bash tests/packaging/abi_constants.sh -I"$work/include" -I"$work/build/include"
} >tests/abi/constants.txt
echo "wrote tests/abi/constants.txt and tests/abi/libbboauth.so.0.abi from $(git rev-parse --short "$rev")" \
     "($(grep -c '<elf-symbol ' tests/abi/libbboauth.so.0.abi) symbols)"
