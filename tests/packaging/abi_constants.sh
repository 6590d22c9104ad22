#!/usr/bin/env bash
# Print "NAME VALUE" for each constant named on stdin (one per line; '#'
# comments and blank lines ignored), compiled against <bboauth.h> with the
# include directories given. Fails when one does not exist any more.
#   bash abi_constants.sh -Iinclude -Ibuild/include <names
#   bash abi_constants.sh --list include/bboauth      the names in the headers:
#       every enumerator and every #define BBO_X <integer>
set -euo pipefail
if [ "${1:-}" = "--list" ]; then
    cat "$2"/*.h | sed -n -E \
        -e 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+(BBO_[A-Z0-9_]+)[[:space:]]+-?[0-9]+[uU]?[[:space:]]*(\/\*.*)?$/\1/p' \
        -e 's/^[[:space:]]+(BBO_[A-Z0-9_]+)[[:space:]]*(=[^,]*)?,?[[:space:]]*(\/\*.*)?$/\1/p'
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
    echo '#include <bboauth.h>'
    echo '#include <stdio.h>'
    echo 'int main(void)'
    echo '{'
    while read -r name _; do
        case $name in ''|'#'*) continue ;; esac
        echo "    printf(\"%s %ld\\n\", \"$name\", (long)($name));"
    done
    echo '    return 0;'
    echo '}'
} >"$work/c.c"
if ! cc -std=c99 "$@" -o "$work/c" "$work/c.c" 2>"$work/log"; then
    grep -E 'error' "$work/log" >&2
    exit 1
fi
"$work/c"
