#!/usr/bin/env bash
# bboauth as a meson subproject of a tiny parent project (default_library=
# static): only the library is built, no test of bboauth's is added, nothing
# of bboauth's is installed, and the parent's program links and runs. Then
# -Dbboauth:install=true installs the library, its headers and its .pc.
# Prints TAP.
#   bash subproject_check.sh SOURCE_ROOT
set -uo pipefail
source_root=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work" "$tap_out"' EXIT
. "$(dirname "$0")/tap.sh"

parent=$work/parent
mkdir -p "$parent/subprojects"
ln -s "$source_root" "$parent/subprojects/bboauth"
cat >"$parent/meson.build" <<'EOF'
project('parent', 'c', default_options : ['default_library=static'])
subproject('bboauth')
bboauth_dep = dependency('bboauth')   # meson.override_dependency in bboauth
executable('parent', 'main.c', dependencies : bboauth_dep, install : true)
EOF
cat >"$parent/main.c" <<'EOF'
#include <bboauth.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char *challenge = NULL;
    int ok;

    if (bbo_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &challenge) != BBO_OK)
        return 1;
    ok = strcmp(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") == 0;
    bbo_free(challenge);
    printf("bboauth %s as a subproject: %s\n", bbo_version(), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
EOF

build=$work/build
check "the parent configures with bboauth as a subproject" \
    meson setup "$build" "$parent" --prefix /usr
check "the parent builds" ninja -C "$build"
check "the parent's program runs" "$build/parent"

# every target of bboauth's is one of the library's
targets_only_library() {
    meson introspect "$build" --targets | python3 -c '
import json, sys
extra = [t["name"] for t in json.load(sys.stdin)
         if t["subproject"] == "bboauth" and t["name"] not in ("bboauth", "bboauth-internal", "bboauth-pg")]
print("targets of bboauth besides its library:", extra or "none")
sys.exit(1 if extra else 0)'
}
check "bboauth builds only its library (no tests, examples, fuzzers, benchmarks)" \
    targets_only_library
library_is_static() {
    meson introspect "$build" --targets | python3 -c '
import json, sys
kinds = [t["type"] for t in json.load(sys.stdin) if t["name"] == "bboauth"]
print("bboauth:", kinds)
sys.exit(0 if kinds == ["static library"] else 1)'
}
check "the parent's default_library=static applies to bboauth" library_is_static
no_tests() {
    local tests
    tests=$(meson introspect "$build" --tests --benchmarks | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(len(v) for v in d.values()))')
    echo "tests and benchmarks in the parent: $tests"
    [ "$tests" = 0 ]
}
check "no test or benchmark of bboauth's is added to the parent" no_tests

installs_only_parent() {
    meson install -C "$build" --destdir "$work/stage" --no-rebuild --quiet || return 1
    local files
    files=$(cd "$work/stage" && find . -type f | sort)
    echo "installed: $files"
    [ "$files" = "./usr/bin/parent" ]
}
check "meson install installs the parent's program and nothing of bboauth's" \
    installs_only_parent

installs_on_request() {
    meson configure "$build" -Dbboauth:install=true || return 1
    meson install -C "$build" --destdir "$work/stage2" --quiet || return 1
    local f
    for f in usr/include/bboauth.h usr/include/bboauth/errors.h; do
        [ -f "$work/stage2/$f" ] || { echo "missing $f"; return 1; }
    done
    find "$work/stage2" -name libbboauth.a | grep -q . || { echo "no libbboauth.a"; return 1; }
    find "$work/stage2" -name bboauth.pc | grep -q . || { echo "no bboauth.pc"; return 1; }
}
check "-Dbboauth:install=true installs the library, headers and .pc" installs_on_request

tap_end
