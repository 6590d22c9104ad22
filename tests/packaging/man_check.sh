#!/usr/bin/env bash
# The man pages built from docs/man/*.scd: each renders with `man -l` and
# groff without a warning, a section-3 page has NAME, SYNOPSIS, DESCRIPTION,
# RETURN VALUE, ERRORS and EXAMPLE (a section-1 page NAME, SYNOPSIS,
# DESCRIPTION), and every exported function (src/exports.txt) is declared in
# the SYNOPSIS of a section-3 page. Prints TAP.
#   bash man_check.sh SOURCE_ROOT BUILT_PAGES_DIR
set -uo pipefail
root=$(cd "$1" && pwd)
built=$(cd "$2" && pwd)
. "$(dirname "$0")/tap.sh"
out=$(mktemp)
trap 'rm -f "$out" "$tap_out"' EXIT

while read -r src _; do
    page=${src%.scd}
    section=${page##*.}
    file=$built/$page
    if [ ! -f "$file" ]; then
        not_ok "$page built"
        continue
    fi
    # man: the formatter's warnings on stderr; groff -ww: every warning
    { MANWIDTH=80 man --warnings -l "$file" >/dev/null; } 2>"$out"
    groff -man -ww -z -Tutf8 "$file" 2>>"$out"
    case $section in
        3) want=("NAME" "SYNOPSIS" "DESCRIPTION" "RETURN VALUE" "ERRORS" "EXAMPLE") ;;
        *) want=("NAME" "SYNOPSIS" "DESCRIPTION") ;;
    esac
    for h in "${want[@]}"; do
        grep -q "^\.SH \"\?$h\"\?\$" "$file" || echo "no $h section" >>"$out"
    done
    if [ -s "$out" ]; then
        not_ok "$page renders without warnings and has its sections"
        sed 's/^/# /' "$out"
    else
        ok "$page renders without warnings and has its sections"
    fi
done < <(python3 "$root/docs/man/pages.py" "$root/docs/man")

# every exported function has a page
python3 "$root/docs/man/pages.py" "$root/docs/man" | awk '$1 ~ /\.3\.scd$/ {for (i = 2; i <= NF; i++) print $i; sub(/\.3\.scd$/, "", $1); print $1}' |
    sort -u >"$out.documented"
grep -v '^#' "$root/src/exports.txt" | grep . | sort -u >"$out.exported"
missing=$(comm -23 "$out.exported" "$out.documented")
if [ -z "$missing" ]; then
    ok "every exported function ($(wc -l <"$out.exported")) is in a section-3 page's SYNOPSIS"
else
    not_ok "exported functions without a man page (add them to the family's docs/man/*.3.scd)"
    echo "$missing" | sed 's/^/# /'
fi
rm -f "$out.documented" "$out.exported"
tap_end
