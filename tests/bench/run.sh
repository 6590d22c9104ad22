#!/usr/bin/env bash
# Run every benchmark and write a Markdown table.
#
#   bash tests/bench/run.sh [OUT.md]      (default: build/bench-results.md)
#   BUILDDIR=build-x bash tests/bench/run.sh
#   BENCH_SMOKE=1 bash tests/bench/run.sh (a few iterations: checks they run)
#   BENCH_PROFILE=1: also where a refresh's instructions go (callgrind_annotate)
#   BENCH_SERVE=1: only start the server and print its URLs
#
# Starts nginx (Debian's /usr/sbin/nginx) on two free loopback ports, plain
# and TLS with a throwaway CA, answering a 2.8 KB Bitbucket-like token JSON
# and a small /2.0/user. Wall-time ratios come from one process running
# bboauth and bare libcurl in alternating blocks; instruction counts, when
# valgrind is installed, from callgrind with collection on only around the
# measured loop. Nothing here asserts a limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
builddir=${BUILDDIR:-build}
out=${1:-$builddir/bench-results.md}
smoke=${BENCH_SMOKE:-0}
nginx=${NGINX:-/usr/sbin/nginx}

if [ ! -x "$nginx" ]; then
    echo "run.sh: nginx not found at $nginx (Debian package nginx, or set NGINX=)" >&2
    exit 1
fi
ninja -C "$builddir" tests/bench/bench tests/bench/bench_refresh >/dev/null
bench="$builddir/tests/bench/bench"
bench_refresh="$builddir/tests/bench/bench_refresh"

tmp=$(mktemp -d /tmp/bbo-bench.XXXXXX)
chmod 755 "$tmp" # nginx workers may run as another user
cleanup() {
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# throwaway CA and a server certificate for 127.0.0.1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bboauth bench CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 2 -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null
chmod 644 "$tmp"/*.pem "$tmp"/*.key

# the token answer: Bitbucket's fields, a 2.6 KB access token
access=$(python3 -c 'import string; a = string.ascii_letters + string.digits + "-_"; print("".join(a[(i * 7) % 64] for i in range(2600)))')
token_json="{\"access_token\": \"$access\", \"scopes\": \"account pullrequest:write repository:write\", \"token_type\": \"bearer\", \"expires_in\": 7200, \"state\": \"refresh_token\", \"refresh_token\": \"r3fr35h-t0k3n-0f-th1s-gr4nt\", \"scope\": \"account pullrequest:write repository:write\"}"
user_json='{"type": "user", "username": "bench", "display_name": "Bench User", "uuid": "{d2bd7e3a-0000-4000-8000-000000000000}", "account_id": "557058:00000000-0000-0000-0000-000000000000"}'

plain_port=$(free_port)
tls_port=$(free_port)
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    default_type application/json;
    server {
        listen 127.0.0.1:$plain_port;
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $tmp/server.pem;
        ssl_certificate_key $tmp/server.key;
        location = /site/oauth2/access_token { return 200 '$token_json'; }
        location = /2.0/user { return 200 '$user_json'; }
    }
}
EOF
"$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
for _ in $(seq 50); do
    [ -f "$tmp/nginx.pid" ] && break
    sleep 0.1
done

plain="http://127.0.0.1:$plain_port"
tls="https://127.0.0.1:$tls_port"
if [ "${BENCH_SERVE:-0}" = 1 ]; then # keep the server up for profiling by hand
    echo "$plain $tls $tmp/ca.pem (Ctrl-C stops)"
    while sleep 3600; do :; done
fi
if [ "$smoke" = 1 ]; then rounds=3; count_n=5; else rounds=${BENCH_ROUNDS:-101}; count_n=${BENCH_COUNT:-200}; fi

rows="$tmp/rows"
: >"$rows"
{
    "$bench_refresh" allocs "$tls" "$tmp/ca.pem"
    "$bench_refresh" allocs "$plain" -
    "$bench_refresh" time "$tls" "$tmp/ca.pem" "$rounds"
    "$bench_refresh" time "$plain" - "$rounds"
} | tee /dev/stderr | grep '^ROW ' >>"$rows"
BENCH_SMOKE=$smoke "$bench" | tee /dev/stderr | grep '^ROW ' >>"$rows" || true

# instructions per operation, when valgrind is here
callgrind_instr() { # OP BASE CA
    local file="$tmp/cg.$1.$RANDOM"
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$file" \
        "$bench_refresh" count "$1" "$2" "$3" "$count_n" >/dev/null 2>&1
    awk -v n="$count_n" '/^(summary|totals):/ { print int($2 / n); exit }' "$file"
    # where a refresh's instructions go (BENCH_PROFILE=1)
    if [ "${BENCH_PROFILE:-0}" = 1 ] && [ "$1" = refresh ]; then
        callgrind_annotate --threshold=99 "$file" 2>/dev/null | head -60 >"$builddir/bench-profile-$1-$mode.txt" || true
    fi
}
# distinct 64-byte lines of code one call executes (in user space): what
# is fetched again after each round trip; total, and bboauth's own
callgrind_lines() { # OP BASE CA
    local file="$tmp/cgl.$1.$RANDOM"
    valgrind --tool=callgrind --collect-atstart=no --dump-instr=yes --compress-strings=no \
        --compress-pos=no --callgrind-out-file="$file" \
        "$bench_refresh" count "$1" "$2" "$3" 20 >/dev/null 2>&1
    python3 - "$file" <<'PY'
import re, sys
obj, lines, ours, after_call = "", set(), set(), False
for text in open(sys.argv[1]):
    if text.startswith("ob="):
        obj = text[3:].strip()
    elif text.startswith("calls="):
        after_call = True  # the next line is the call's inclusive cost
    elif re.match(r"0x[0-9a-f]+ ", text):
        if not after_call:
            line = (obj, int(text.split()[0], 16) // 64)
            lines.add(line)
            if "libbboauth" in obj:
                ours.add(line)
        after_call = False
print(len(lines), len(ours))
PY
}
if command -v valgrind >/dev/null; then
    for mode in TLS plain; do
        if [ $mode = TLS ]; then base=$tls ca=$tmp/ca.pem; else base=$plain ca=-; fi
        read -r rl ro < <(callgrind_lines refresh "$base" "$ca")
        read -r pl _ < <(callgrind_lines post "$base" "$ca")
        echo "ROW refresh-lines-$mode | refresh, distinct 64-byte lines of code executed ($mode) | $rl ($ro in libbboauth) | bare libcurl POST: $pl | $(awk -v a="$rl" -v b="$pl" 'BEGIN { printf "%.3f", a / b }') | -" >>"$rows"
    done
    for mode in TLS plain; do
        if [ $mode = TLS ]; then base=$tls ca=$tmp/ca.pem; else base=$plain ca=-; fi
        r=$(callgrind_instr refresh "$base" "$ca")
        p=$(callgrind_instr post "$base" "$ca")
        echo "ROW refresh-instr-$mode | refresh, instructions ($mode) | $r | bare libcurl POST: $p | $(awk -v a="$r" -v b="$p" 'BEGIN { printf "%.3f", a / b }') | <= 1.3" >>"$rows"
        r=$(callgrind_instr session-refresh "$base" "$ca")
        echo "ROW session-refresh-instr-$mode | bbo_session_refresh, instructions ($mode) | $r | bare libcurl POST: $p | $(awk -v a="$r" -v b="$p" 'BEGIN { printf "%.3f", a / b }') | <= 1.3" >>"$rows"
        a=$(callgrind_instr api "$base" "$ca")
        g=$(callgrind_instr get "$base" "$ca")
        echo "ROW api-instr-$mode | API call GET /user, instructions ($mode) | $a | bare libcurl GET: $g | $(awk -v a="$a" -v b="$g" 'BEGIN { printf "%.3f", a / b }') | <= 1.1" >>"$rows"
    done
fi

{
    echo "bboauth benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| measurement | bboauth | baseline | ratio | goal |"
    echo "| --- | --- | --- | --- | --- |"
    sed -e 's/^ROW [^ ]* | /| /' -e 's/$/ |/' "$rows"
} >"$out"
echo
cat "$out"
echo "written to $out"
