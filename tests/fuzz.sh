#!/usr/bin/env bash
# Every libFuzzer target for a bounded time, in build-fuzz/ (clang, ASan +
# UBSan, the library instrumented for coverage); CI's fourth pass:
#   bash tests/fuzz.sh [SECONDS]    SECONDS per target (default 60)
# A crash, a leak, a sanitizer report or an input slower than 10 s fails
# the target; its input is kept as build-fuzz/tests/fuzz/crash-TARGET-*.
# Prints `N passed, N failed` last.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
bbo_install_deps
seconds=${1:-60}
builddir=build-fuzz
setup_args=(-Dfuzzing=true -Dexamples=false -Db_sanitize=address,undefined -Db_lundef=false
            -Dc_args=-fsanitize=fuzzer-no-link)
export ASAN_OPTIONS=abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" "${setup_args[@]}" >/dev/null
else
    CC=clang meson setup "$builddir" "${setup_args[@]}" >/dev/null
fi
ninja -C "$builddir"
status=0
# a later -max_total_time overrides the one in tests/fuzz/meson.build
meson test -C "$builddir" --suite libfuzzer --print-errorlogs --num-processes 2 \
    --test-args="-max_total_time=$seconds" || status=$?
python3 tests/count_results.py "$builddir/meson-logs/testlog.json" || status=1
exit $status
