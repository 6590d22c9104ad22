#!/usr/bin/env bash
# The programs people run, against the bundled loopback mock of Bitbucket,
# with no input: a stand-in browser approves the login. Installs what is
# missing (Debian 12), builds, then, in a throwaway HOME:
#   bbo login -> bbo status -> bbo api /user -> git clone (and push) through
#   git-credential-bboauth from a local git server that accepts only live
#   tokens -> two processes needing a refresh at once (the mock must count
#   ONE refresh) -> bbo logout (and git says what to do next)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
bbo_install_deps

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

exec python3 tests/mock/with_mock.py -- bash -c '
set -euo pipefail
root=$PWD
work=$(mktemp -d)
server=
trap "[ -n \"\$server\" ] && kill \$server; rm -rf \"$work\"" EXIT
# a person of our own: fresh HOME, no desktop keyring, the tools on PATH
export HOME=$work/home XDG_CONFIG_HOME= XDG_STATE_HOME= GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
unset DBUS_SESSION_BUS_ADDRESS BBO_PROFILE
mkdir -p "$HOME"
export PATH=$root/build/src/tools:$PATH BROWSER=$root/tests/mock/fake_browser.py
export BBO_CONSUMER_KEY=$BBMOCK_KEY BBO_CONSUMER_SECRET=$BBMOCK_SECRET
# tokens are secrets: the demo shows a short hash of them, never the text
fingerprint() { sha256sum | cut -c1-12; }
refreshes() { python3 -c "import json,sys,urllib.request as u; d=json.load(u.urlopen(sys.argv[1]+\"/stats\")); print(d[\"grants\"][\"refresh_token\"], d[\"refresh_replays\"])" "$BBMOCK_CONTROL"; }
mock() { python3 -c "import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1]+sys.argv[2], data=sys.argv[3].encode(), method=\"POST\"))" "$BBMOCK_CONTROL" "$@"; }

# a git server on 127.0.0.1 (git-http-backend) that asks the mock whether a token is live
mkdir -p "$work/srv/ws"
git init -q --bare "$work/srv/ws/repo.git"
git init -q "$work/seed" && echo "hello from the mock" >"$work/seed/README"
git -C "$work/seed" add README
git -C "$work/seed" -c user.name=Demo -c user.email=demo@example.invalid commit -qm "first commit"
git -C "$work/seed" push -q "$work/srv/ws/repo.git" HEAD:main
git --git-dir="$work/srv/ws/repo.git" symbolic-ref HEAD refs/heads/main
python3 tests/tools/git_server.py --root "$work/srv" --ready-file "$work/port" 2>/dev/null & server=$!
while [ ! -s "$work/port" ]; do sleep 0.1; done
githost=127.0.0.1:$(cat "$work/port")

echo "== 1. bbo login   (mock Bitbucket Cloud at $BBMOCK_BASE; git server at $githost)"
bbo login --bitbucket "$BBMOCK_BASE" --ca-file "$BBMOCK_CA" --git-host "$githost" \
    --scopes "account repository:write"

echo; echo "== 2. bbo status   (no network)"
bbo status

echo; echo "== 3. bbo api /user"
bbo api /user

echo; echo "== 4. git clone through git-credential-bboauth"
git config --global credential.http://$githost.helper bboauth
git config --global user.name Demo && git config --global user.email demo@example.invalid
git clone -q "http://$githost/ws/repo.git" "$work/clone"
echo "   cloned: $(git -C "$work/clone" log --oneline | head -1); README says: $(cat "$work/clone/README")"
echo "change" >>"$work/clone/README"
git -C "$work/clone" commit -qam "second commit"
git -C "$work/clone" push -q origin HEAD:main
echo "   pushed: $(git ls-remote "http://$githost/ws/repo.git" refs/heads/main | cut -c1-12)"

echo; echo "== 5. bbo token: two processes need a refresh at once"
mock /config "{\"access_ttl\": 2}"       # a token that lives 2 s ...
bbo token --refresh >/dev/null
mock /config "{\"access_ttl\": 7200}"
sleep 2                                  # ... has expired: both need a refresh
read -r before _ < <(refreshes)
bbo token >"$work/a" & a=$!
bbo token >"$work/b" & b=$!
wait $a; wait $b
read -r after replays < <(refreshes)
echo "   process A got sha256 $(fingerprint <"$work/a"), process B got sha256 $(fingerprint <"$work/b")"
echo "   refreshes the mock counted for both: $((after - before)); refresh tokens replayed: $replays"
cmp -s "$work/a" "$work/b" && [ $((after - before)) -eq 1 ] && [ "$replays" -eq 0 ]

echo; echo "== 6. bbo logout, then git"
bbo logout
if git -C "$work/clone" fetch -q 2>"$work/err"; then exit 1; fi
sed "s/^/   git: /" "$work/err" | head -2
echo "== demo finished: every step passed"
'
