#!/usr/bin/env bash
# Build and test bboauth in other meson configurations than tests/run.sh's
# (default_library=both, the default -O3 -g): each in its own build directory,
# build-cfg-<library>-<buildtype>/, tests on. Ends with `N passed, N failed`
# over all of them; exits non-zero when anything failed.
#   bash tests/packaging/ci_configs.sh          shared/release and static/plain (CI)
#   bash tests/packaging/ci_configs.sh --all    all 9 default_library x buildtype
#                                               combinations, plus each library
#                                               with -Dtests=false (slow)
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
bbo_install_deps

configs=("shared release true" "static plain true")
if [ "${1:-}" = "--all" ]; then
    configs=()
    for lib in shared static both; do
        for bt in plain debugoptimized release; do
            configs+=("$lib $bt true")
        done
        configs+=("$lib debugoptimized false")
    done
fi

status=0
logs=()
extra_failed=0
for c in "${configs[@]}"; do
    set -- $c
    lib=$1 bt=$2 tests=$3
    dir=build-cfg-$lib-$bt
    [ "$tests" = false ] && dir=$dir-notests
    echo "== default_library=$lib buildtype=$bt tests=$tests ($dir)"
    args=(-Ddefault_library=$lib -Dbuildtype=$bt -Dtests=$tests)
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "${args[@]}" >"$dir.setup.log" 2>&1
    else
        meson setup "$dir" "${args[@]}" >"$dir.setup.log" 2>&1
    fi || { cat "$dir.setup.log"; echo "configure failed: $c"; status=1; extra_failed=$((extra_failed + 1)); continue; }
    rm -f "$dir.setup.log"
    if ! ninja -C "$dir" >/dev/null; then
        ninja -C "$dir" | tail -n 30
        echo "build failed: $c"; status=1; extra_failed=$((extra_failed + 1)); continue
    fi
    if [ "$tests" = true ]; then
        meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/ci.log" 2>&1 || status=1
        grep -E '^(Ok|Fail|Timeout):' "$dir/ci.log"
        grep -E ' (FAIL|ERROR|TIMEOUT) ' "$dir/ci.log"
        logs+=("$dir/meson-logs/testlog.json")
    fi
done

echo
line=$(python3 tests/count_results.py "${logs[@]}") || status=1
passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$line")
failed=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
echo "$((passed)) passed, $((failed + extra_failed)) failed"
exit $status
