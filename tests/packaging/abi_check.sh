#!/usr/bin/env bash
# Compare the built libbboauth.so.0 with the ABI baseline of the last release
# (tests/abi/libbboauth.so.0.abi) with libabigail's abidiff. Prints TAP.
#   bash abi_check.sh LIB SOURCE_ROOT BUILD_ROOT
#
# Fails on an incompatible change: a function or variable removed, a
# function's parameters or return type changed, a public type changed in
# any other way than members appended at the end of a struct (every public
# struct is a versioned table: docs/abi.md), the soname changed. Passes on
# compatible additions, listed as TAP comments: new functions and variables,
# members appended at the end of a versioned table.
#
# abidiff runs in leaf mode (-l: each changed type reported once). Its exit
# code is a bit set: 1 error, 2 usage error, 4 some ABI change (additions
# included), 8 an incompatible change (a symbol removed). 4 alone passes only
# when the report counts no changed type and no removed or changed function
# or variable. Enumerator values are invisible to abidiff (the functions
# take and return int): tests/abi/constants.txt pins them (table *_VERSION
# macros may only grow), checked here too.
set -uo pipefail
lib=$1
root=$(cd "$2" && pwd)
build_root=$(cd "$3" && pwd)
baseline=$root/tests/abi/libbboauth.so.0.abi
report=$(mktemp)
trap 'rm -f "$report" "$tap_out"' EXIT
. "$(dirname "$0")/tap.sh"

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
base_soname=$(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$baseline" | head -n 1)
if [ "$soname" = "$base_soname" ]; then
    ok "soname $soname as in the baseline"
else
    not_ok "soname $soname, baseline $base_soname: a new soname needs a new baseline (docs/abi.md)"
fi

if ! readelf -S "$lib" | grep -q '\.debug_info'; then
    # a build without -g (buildtype=release, plain): symbols only
    echo "# $lib has no debug info: comparing symbols only (types need -g)"
fi

# Opaque objects (declared `typedef struct bbo_x bbo_x;` in the public
# headers, defined only in src/) are not ABI: callers hold pointers only.
# Their definitions still reach the debug info, and abidw/abidiff cannot tell
# src/internal/authorization.h from include/bboauth/authorization.h by name,
# so they are suppressed by name here.
suppr=$(mktemp)
trap 'rm -f "$report" "$tap_out" "$suppr"' EXIT
for t in $(sed -n 's/^typedef struct \(bbo_[a-z_0-9]*\) \1;.*/\1/p' "$root"/include/bboauth/*.h | sort -u); do
    grep -q "^struct $t {" "$root"/include/bboauth/*.h && continue
    printf '[suppress_type]\n  name = %s\n' "$t" >>"$suppr"
done
abidiff --leaf-changes-only --suppressions "$suppr" --hd2 "$root/include/bboauth" \
    "$baseline" "$lib" >"$report" 2>&1
rc=$?
note <"$report"
count() { sed -n "s/^$1//p" "$report" | grep -oE '^ *[0-9]+' | head -n 1; }
leaf=$(count 'Changed leaf types summary: ')
read -r fr fc fa <<<"$(sed -n 's/^Removed\/Changed\/Added functions summary: \([0-9]*\) Removed, \([0-9]*\) Changed, \([0-9]*\) Added.*/\1 \2 \3/p' "$report")"
read -r vr vc va <<<"$(sed -n 's/^Removed\/Changed\/Added variables summary: \([0-9]*\) Removed, \([0-9]*\) Changed, \([0-9]*\) Added.*/\1 \2 \3/p' "$report")"
# symbols the debug info does not describe (all of them without -g)
sym_removed=$(sed -n 's/^\(Function\|Variable\) symbols changes summary: \([0-9]*\) Removed.*/\2/p' "$report" |
              awk '{ s += $1 } END { print s + 0 }')
if [ $((rc & 3)) -ne 0 ]; then
    not_ok "abidiff ran (exit $rc)"
elif [ $((rc & 8)) -ne 0 ] || [ "$sym_removed" != 0 ]; then
    not_ok "incompatible ABI change against the baseline (abidiff exit $rc)"
elif [ $rc -eq 0 ]; then
    ok "ABI identical to the baseline"
elif [ "${leaf:-x}" != 0 ] || [ "${fr:-x}${fc:-x}${vr:-x}${vc:-x}" != 0000 ]; then
    not_ok "ABI change against the baseline (exit $rc): $leaf types changed, functions $fr removed $fc changed, variables $vr removed $vc changed"
else
    sym_added=$(sed -n 's/^\(Function\|Variable\) symbols changes summary: [0-9]* Removed, \([0-9]*\) Added.*/\2/p' "$report" |
                awk '{ s += $1 } END { print s + 0 }')
    ok "ABI compatible with the baseline: additions only (${fa:-0} functions, ${va:-0} variables, $sym_added symbols without debug info)"
fi

# every enumerator and integer #define of the baseline keeps its value; a
# table's *_VERSION (the newest version a caller may fill in) only grows
constants=$root/tests/abi/constants.txt
if bash "$root/tests/packaging/abi_constants.sh" -I"$root/include" -I"$build_root/include" \
        <"$constants" >"$report" 2>&1; then
    if awk 'NR == FNR { if ($1 !~ /^#/ && NF) base[$1] = $2; next }
            { ok = $1 ~ /_VERSION$/ ? $2 >= base[$1] : $2 == base[$1]
              if (!ok) { print $1 ": " base[$1] " in the baseline, " $2 " now"; bad = 1 } }
            END { exit bad }' "$constants" "$report" >"$report.diff"; then
        ok "$(wc -l <"$report") constants (codes, table versions) keep their values"
    else
        not_ok "constants changed value"
        note <"$report.diff"
    fi
    rm -f "$report.diff"
else
    not_ok "every constant of the baseline (tests/abi/constants.txt) still exists"
    note <"$report"
fi
tap_end
