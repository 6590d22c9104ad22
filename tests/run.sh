#!/usr/bin/env bash
# Build bboauth and run every test. Installs missing Debian packages first.
#   bash tests/run.sh              normal build in build/
#   bash tests/run.sh --sanitize   address+undefined sanitizers in build-asan/
# Prints `N passed, N failed` last; exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
bbo_install_deps

builddir=build
# shared and static, so the packaging tests check both
setup_args=(-Ddefault_library=both)
if [ "${1:-}" = "--sanitize" ]; then
    builddir=build-asan
    setup_args+=(-Db_sanitize=address,undefined -Db_lundef=false)
    # any sanitizer report fails the test that triggered it
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
fi

if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" "${setup_args[@]}" >/dev/null
else
    meson setup "$builddir" "${setup_args[@]}" >/dev/null
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 || status=$?
python3 tests/count_results.py "$builddir/meson-logs/testlog.json" || status=1
exit $status
