#!/usr/bin/env bash
# The api-call example end to end, under the mock (meson runs it through
# tests/mock/with_mock.py, which sets BBMOCK_*):
#   api-call-test.sh BBO_LOGIN API_CALL
# 1. bbo-login logs in (a stand-in browser approves) and writes a token file;
# 2. api-call uses it: user, one page, every page, two failures;
# 3. the mock expires every access token: api-call's first call gets a 401,
#    the session refreshes (rotating the refresh token, saved to the file)
#    and retries; the mock must count one more refresh and no replay.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BBO_LOGIN API_CALL" >&2; exit 2; }
bbo_login=$1 api_call=$2
# CI's valgrind pass (tests/valgrind.sh) runs the C programs under BBO_TEST_WRAPPER
read -r -a wrap <<< "${BBO_TEST_WRAPPER:-}"
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export BROWSER="$root/tests/mock/fake_browser.py"
export BBO_CONSUMER_KEY="$BBMOCK_KEY" BBO_CONSUMER_SECRET="$BBMOCK_SECRET"
mock_stats() {   # refresh grants and replays the mock counted
    python3 -c 'import json, sys, urllib.request as u
d = json.load(u.urlopen(sys.argv[1] + "/stats"))
print(d["grants"]["refresh_token"], d["refresh_replays"])' "$BBMOCK_CONTROL"
}

echo "== bbo-login login"
"${wrap[@]}" "$bbo_login" --base "$BBMOCK_BASE" --ca "$BBMOCK_CA" --store "$work/token" --timeout 30 login
[ "$(stat -c %a "$work/token")" = 600 ]   # the token file is private

echo "== api-call"
"${wrap[@]}" "$api_call" --base "$BBMOCK_BASE" --ca "$BBMOCK_CA" "$work/token"

echo "== api-call after the server expired every access token (401, refresh, retry)"
read -r before _ < <(mock_stats)
python3 -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + "/expire", data=b"{}", method="POST"))' "$BBMOCK_CONTROL"
"${wrap[@]}" "$api_call" --base "$BBMOCK_BASE" --ca "$BBMOCK_CA" "$work/token" | tee "$work/out"
read -r after replays < <(mock_stats)
grep -q "token refreshed and saved" "$work/out"
echo "refreshes: $((after - before)), refresh token replays: $replays"
[ $((after - before)) -eq 1 ] && [ "$replays" -eq 0 ]
echo "== example-api-call passed"
