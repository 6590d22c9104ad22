#!/usr/bin/env bash
# bbo-webapp against the bundled mock Bitbucket, for a person with a browser.
# Installs what is missing (Debian 12), builds, starts the mock (with its
# consent page) and two bbo-webapp workers sharing one store and seal key,
# prints the address to open and opens it when a desktop is there.
# Ctrl-C stops everything.
#   bash examples/webapp/run-demo.sh            # http://127.0.0.1:3001/
#   PORT=8080 bash examples/webapp/run-demo.sh  # another port (and PORT+1)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/deps.sh
bbo_install_deps

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
[ -x build/examples/webapp/bbo-webapp ] || {
    echo "bbo-webapp was not built: is libmicrohttpd-dev installed?" >&2; exit 1; }

export PORT="${PORT:-3001}"
exec python3 tests/mock/with_mock.py -- bash -c '
set -euo pipefail
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap "exit 0" INT TERM
head -c 32 /dev/urandom >"$work/seal.key"
# the browser talks to the mock over plain http (its https port has a
# throwaway CA your browser does not know); consent page on
python3 -c "import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + \"/config\", data=sys.argv[2].encode(), method=\"POST\"))" \
    "$BBMOCK_CONTROL" "{\"consent\": true}"
bitbucket="http://127.0.0.1:$BBMOCK_PLAIN_PORT"
export BBO_CONSUMER_KEY="$BBMOCK_KEY" BBO_CONSUMER_SECRET="$BBMOCK_SECRET"
url="http://127.0.0.1:$PORT"
second="http://127.0.0.1:$((PORT + 1))"
for listen in "127.0.0.1:$PORT" "127.0.0.1:$((PORT + 1))"; do
    build/examples/webapp/bbo-webapp --listen "$listen" --public-url "$url" \
        --bitbucket "$bitbucket" --store "$work/store" --seal-key-file "$work/seal.key" \
        --require-scopes "account pullrequest:write" 2>>"$work/webapp.log" &
    pids+=($!)
done
for _ in $(seq 100); do
    python3 -c "import sys, urllib.request as u; u.urlopen(sys.argv[1])" "$url/" \
        2>/dev/null && break
    sleep 0.1
done
cat <<EOF

  bbo-webapp is running against the mock Bitbucket at $bitbucket

    open  $url/

  Connect Bitbucket, choose "Grant access" on the mock consent page, then
  list the pull requests of  bbo-tester/repo-01  (23 open, 3 pages) and comment.
  A second worker at $second/ shares the grants: a login begun there
  completes on the first one (the callback is $url/callback).
  Comments you post:  curl $BBMOCK_CONTROL/comments
  Ctrl-C stops the workers and the mock.

EOF
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    if [ -n "${BROWSER:-}" ]; then "$BROWSER" "$url/" >/dev/null 2>&1 &
    elif command -v xdg-open >/dev/null; then xdg-open "$url/" >/dev/null 2>&1 &
    fi
fi
tail -n +1 -f "$work/webapp.log" &
pids+=($!)
wait "${pids[0]}"
'
