#!/usr/bin/env python3
"""A local git smart-HTTP server for the tests: git-http-backend as CGI
behind a small Python server on 127.0.0.1, accepting only a live token.

    git_server.py --root DIR --ready-file FILE

Every request must carry `Authorization: Basic x-token-auth:<token>` (or
`Bearer <token>`); the token is checked by asking the mock Bitbucket's
GET /2.0/user (BBMOCK_BASE, trusting BBMOCK_CA), as Bitbucket itself would
accept or refuse it. Refused: 401 with `WWW-Authenticate: Basic`, so git
asks its credential helper. The server logs method, path, status and a
short SHA-256 of the token used (never the token) to stderr and keeps
counters: GET /-/stats answers {"accepted": N, "refused": N,
"tokens": [fingerprints in order of first use]} without authentication.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

BACKEND = "/usr/lib/git-core/git-http-backend"


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.refused = 0
        self.tokens = []


STATE = State()


def token_is_live(token):
    context = ssl.create_default_context(cafile=os.environ["BBMOCK_CA"])
    request = urllib.request.Request(os.environ["BBMOCK_BASE"] + "/2.0/user",
                                     headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return answer.status == 200
    except urllib.error.HTTPError:
        return False


def token_from(header):
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password if user == "x-token-auth" and password else None
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        path, _, query = self.path.partition("?")
        body = self.read_body() if self.command == "POST" else b""
        if path == "/-/stats":
            with STATE.lock:
                data = {"accepted": STATE.accepted, "refused": STATE.refused,
                        "tokens": list(STATE.tokens)}
            self.answer(200, json.dumps(data).encode(), [("Content-Type", "application/json")])
            return
        token = token_from(self.headers.get("Authorization"))
        live = token is not None and token_is_live(token)
        with STATE.lock:
            if live:
                STATE.accepted += 1
                if fingerprint(token) not in STATE.tokens:
                    STATE.tokens.append(fingerprint(token))
            elif token is not None:
                STATE.refused += 1
        print(f"git_server: {self.command} {path} token "
              f"{fingerprint(token) if token else '-'} {'live' if live else 'refused'}",
              file=sys.stderr, flush=True)
        if not live:
            self.answer(401, b"authentication required\n",
                        [("WWW-Authenticate", 'Basic realm="bbo test git"'),
                         ("Content-Type", "text/plain")])
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "bbo-tester",
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for name in ("Content-Encoding", "Git-Protocol"):
            if self.headers.get(name):
                env["HTTP_" + name.upper().replace("-", "_")] = self.headers[name]
        result = subprocess.run([BACKEND], input=body, env=env, capture_output=True,
                                check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.answer(status, payload, headers)

    do_GET = handle_any
    do_POST = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = os.path.abspath(args.root)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
