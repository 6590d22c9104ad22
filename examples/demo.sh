#!/usr/bin/env bash
# The whole login flow against the bundled loopback mock of Bitbucket, with
# no user input: a stand-in browser approves the login. Installs what is
# missing (Debian 12), builds, then runs examples/bbo-login:
#   login -> whoami -> token (forced refresh) -> two processes sharing the
#   encrypted token file, refreshing at once (the mock must count ONE refresh)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
bbo_install_deps

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

export BROWSER="$PWD/tests/mock/fake_browser.py"
exec python3 tests/mock/with_mock.py -- bash -c '
set -euo pipefail
work=$(mktemp -d)
trap "rm -rf \"$work\"" EXIT
head -c 32 /dev/urandom >"$work/key"
export BBO_CONSUMER_KEY="$BBMOCK_KEY" BBO_CONSUMER_SECRET="$BBMOCK_SECRET"
bbo() { build/examples/bbo-login --base "$BBMOCK_BASE" --ca "$BBMOCK_CA" \
            --store "$work/token" --key-file "$work/key" "$@"; }
# tokens are secrets: the demo shows a short hash of them, never the text
fingerprint() { sha256sum | cut -c1-12; }
stat_of() { python3 -c "import json,sys,urllib.request as u; d=json.load(u.urlopen(sys.argv[1]+\"/stats\")); print(d[\"grants\"][\"refresh_token\"], d[\"refresh_replays\"])" "$BBMOCK_CONTROL"; }

echo "== 1. bbo-login login   (mock Bitbucket Cloud at $BBMOCK_BASE)"
bbo --scopes "account repository" login
echo "   token file: mode $(stat -c %a "$work/token"), $(wc -c <"$work/token") bytes, encrypted: $(head -c 7 "$work/token")"

echo "== 2. bbo-login whoami"
bbo whoami

echo "== 3. bbo-login token --force-refresh   (prints the access token for scripts; shown hashed)"
echo "   access token sha256: $(bbo token --force-refresh | fingerprint)"

echo "== 4. two processes, one token file, both see the token as due (--margin 86400)"
read before _ < <(stat_of)
bbo token --margin 86400 >"$work/a" & a=$!
bbo token --margin 86400 >"$work/b" & b=$!
wait $a; wait $b
read after replays < <(stat_of)
echo "   process A got sha256 $(fingerprint <"$work/a"), process B got sha256 $(fingerprint <"$work/b")"
echo "   refreshes the mock counted for both: $((after - before)); refresh tokens replayed: $replays"
cmp -s "$work/a" "$work/b" && [ $((after - before)) -eq 1 ] && [ "$replays" -eq 0 ]

echo "== 5. bbo-login logout"
bbo logout
echo "== demo finished: every step passed"
'
