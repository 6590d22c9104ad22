#!/usr/bin/env bash
# The whole suite under valgrind memcheck, in build-valgrind/ (CI's third pass):
#   bash tests/valgrind.sh        prints `N passed, N failed` last
# Any memcheck error, and any definite or indirect leak, fails the test.
#
# meson runs every test command through this script again (--wrap): a
# program built in build-valgrind/ runs under valgrind; an interpreter or
# system tool (python3 with_mock.py, bash) runs as is, with BBO_TEST_WRAPPER
# set, so that with_mock.py (and examples/api-call-test.sh) put valgrind before
# the C programs they start. Python itself is never run under valgrind:
# the python-ffi test runs, but its library calls are not checked.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
valgrind=(valgrind --quiet --error-exitcode=99 --leak-check=full
          --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
          --num-callers=40)

if [ "${1:-}" = --wrap ]; then
    shift
    program=$(readlink -f "$(command -v "$1")")
    magic=$(head -c 4 "$program" 2>/dev/null | od -An -c | tr -d ' ')
    case $program in
        "$BBO_TEST_WRAP_ROOT"/*) [ "$magic" = '177ELF' ] && exec "${valgrind[@]}" "$@" ;;
    esac
    export BBO_TEST_WRAPPER="${valgrind[*]}"
    exec "$@"
fi

set -e
cd "$here/.."
. tests/deps.sh
bbo_install_deps
builddir=build-valgrind
if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" >/dev/null
else
    meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir"
# only programs built here run under valgrind (not python3, bash, ...)
export BBO_TEST_WRAP_ROOT="$PWD/$builddir"
status=0
# valgrind runs programs 10 to 50 times slower: -t multiplies the timeouts
# the packaging suite builds and installs, and runs no program of ours under
# valgrind: it is left to the first two passes
meson test -C "$builddir" --wrapper "bash $here/valgrind.sh --wrap" -t 10 --no-suite packaging \
    --print-errorlogs --num-processes 2 || status=$?
# meson names the log after the wrapper (bash)
python3 tests/count_results.py "$builddir/meson-logs/testlog-bash.json" || status=1
exit $status
