# TAP helpers for the tests/packaging scripts (sourced).
#   ok DESC | not_ok DESC     one result line
#   note                      stdin as TAP comments
#   check DESC CMD [ARG...]   run CMD, its output as comments, ok/not ok by its status
#   tap_end                   the plan line; exits 1 when anything failed
tap_n=0
tap_failed=0
tap_out=$(mktemp)   # the sourcing script's EXIT trap removes it
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=1; echo "not ok $tap_n - $1"; }
note() { sed 's/^/# /'; }
check() {
    local desc=$1; shift
    if "$@" >"$tap_out" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
    note <"$tap_out"
}
tap_end() {
    echo "1..$tap_n"
    exit $tap_failed
}
