#!/usr/bin/env bash
# The whole login flow against the bundled loopback mock of Bitbucket, with
# no user input: a fake browser approves the login. Installs what is
# missing (Debian 12), builds, and runs examples/bbo-login.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
bbo_install_deps

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

export BROWSER="$PWD/tests/mock/fake_browser.py"
exec python3 tests/mock/with_mock.py -- bash -c '
set -euo pipefail
login=build/examples/bbo-login
store=$(mktemp -d)/token.json
export BBO_CONSUMER_KEY="$BBMOCK_KEY" BBO_CONSUMER_SECRET="$BBMOCK_SECRET"
echo "== bbo-login login (mock Bitbucket at $BBMOCK_BASE)"
"$login" --base "$BBMOCK_BASE" --ca "$BBMOCK_CA" --scopes "account repository" \
    --out "$store" login
echo "== saved token file: $(stat -c %a "$store") permissions, $(wc -c <"$store") bytes"
rm -rf "$(dirname "$store")"
echo "== demo finished"
'
