#!/usr/bin/python3
"""Self-test of bbmock: starts one mock and checks endpoints, grants and faults.

    python3 tests/mock/selftest.py [-v]

Exits 0 when every check passes; the last line is "N passed, N failed".
Each test starts from POST /reset, so they are independent of each other.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
from bbmock import DEFAULT_JWT_SECRET, DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402
from with_mock import start_mock, stop_mock  # noqa: E402

FORM = "application/x-www-form-urlencoded"
CLOUD_AUTHORIZE = "/site/oauth2/authorize"
CLOUD_TOKEN = "/site/oauth2/access_token"
DC_AUTHORIZE = "/rest/oauth2/latest/authorize"
DC_TOKEN = "/rest/oauth2/latest/token"
REDIRECT = "http://127.0.0.1:8123/callback"
# RFC 7636 appendix B
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def basic(key, secret):
    """RFC 6749 2.3.1: form-url-encode both parts, then base64."""
    pair = f"{urllib.parse.quote_plus(key)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def make_jwt(claims, secret=DEFAULT_JWT_SECRET, alg="HS256"):
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(),
                         hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def jwt_claims(**changes):
    now = int(time.time())
    return {"iss": DEFAULT_KEY, "iat": now, "exp": now + 180, "qsh": "context-qsh",
            **changes}


def expect(condition, message="check failed"):
    if not condition:
        raise AssertionError(message)


def expect_equal(actual, wanted, what="value"):
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, wanted {wanted!r}")


class Mock:
    """A client of one running bbmock, with the secrets it has seen."""

    def __init__(self, info):
        self.info = info
        self.context = ssl.create_default_context(cafile=info["ca"])
        self.seen_secrets = {DEFAULT_SECRET, DEFAULT_JWT_SECRET}

    def connection(self, port=None, plain=False):
        if plain:
            return http.client.HTTPConnection("127.0.0.1", self.info["plain_port"],
                                              timeout=10)
        return http.client.HTTPSConnection("127.0.0.1", port or self.info["port"],
                                           context=self.context, timeout=10)

    def request(self, method, path, body=None, headers=None, **where):
        """One request on a fresh connection: (status, headers, body bytes)."""
        conn = self.connection(**where)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def control(self, path, payload=None, status=200):
        conn = http.client.HTTPConnection("127.0.0.1", self.info["control_port"],
                                          timeout=10)
        try:
            if payload is None:
                conn.request("GET", path)
            else:
                conn.request("POST", path, body=json.dumps(payload),
                             headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
        expect_equal(response.status, status, f"control {path} status ({body})")
        return body

    def stats(self):
        return self.control("/stats")

    def fault(self, **fault):
        self.control("/fault", fault)

    def token(self, form, auth="basic", key=DEFAULT_KEY, secret=DEFAULT_SECRET,
              path=CLOUD_TOKEN, headers=None, body=None):
        """POST to the token endpoint: (status, JSON answer)."""
        headers = {"Content-Type": FORM, **(headers or {})}
        if auth == "basic":
            headers["Authorization"] = basic(key, secret)
        elif auth == "form":
            form = {**form, "client_id": key, "client_secret": secret}
        status, _, answer = self.request(
            "POST", path, body if body is not None else urllib.parse.urlencode(form),
            headers)
        answer = json.loads(answer)
        self.remember(answer)
        return status, answer

    def remember(self, answer):
        for name in ("access_token", "refresh_token", "code"):
            if name in answer:
                self.seen_secrets.add(answer[name])

    def authorize(self, params, path=CLOUD_AUTHORIZE):
        """POST /authorize: (status, parsed redirect parameters or error body)."""
        url = f"{self.info['base']}{path}?{urllib.parse.urlencode(params)}"
        result = self.control("/authorize", {"url": url})
        if result["location"] is None:
            return result["status"], result
        location = urllib.parse.urlsplit(result["location"])
        answer = dict(urllib.parse.parse_qsl(location.query or location.fragment,
                                             keep_blank_values=True))
        answer["_location"] = result["location"]
        self.remember(answer)
        return result["status"], answer

    def login(self, scope=None, path=CLOUD_AUTHORIZE, token_path=CLOUD_TOKEN):
        """The whole code flow with PKCE and a loopback redirect_uri."""
        verifier = b64url(secrets.token_bytes(32))
        state = b64url(secrets.token_bytes(16))
        params = {"client_id": DEFAULT_KEY, "response_type": "code", "state": state,
                  "redirect_uri": REDIRECT,
                  "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
                  "code_challenge_method": "S256"}
        if scope:
            params["scope"] = scope
        status, answer = self.authorize(params, path)
        expect(status == 302 and "code" in answer, f"authorize: {status} {answer}")
        expect_equal(answer["state"], state, "state")
        status, token = self.token({"grant_type": "authorization_code",
                                    "code": answer["code"], "redirect_uri": REDIRECT,
                                    "code_verifier": verifier}, path=token_path)
        expect_equal(status, 200, f"token status ({token})")
        return token

    def api(self, path, access_token=None, scheme="Bearer", **where):
        headers = {} if access_token is None else {
            "Authorization": f"{scheme} {access_token}"}
        status, headers, body = self.request("GET", path, headers=headers, **where)
        return status, headers, json.loads(body)


TESTS = []


def test(function):
    TESTS.append(function)
    return function


# ------------------------------------------------------------------ tests

@test
def tls_certificates(m):
    status, _, _ = m.request("GET", "/2.0/user")
    expect_equal(status, 401, "status with the good certificate")
    try:
        m.request("GET", "/2.0/user", port=m.info["wrong_port"])
        raise AssertionError("the wronghost.invalid certificate was accepted")
    except ssl.SSLCertVerificationError as e:
        expect("match" in str(e) or "mismatch" in str(e), str(e))
    # The same certificate chains to the CA: only the host is wrong.
    with socket.create_connection(("127.0.0.1", m.info["wrong_port"])) as raw:
        with m.context.wrap_socket(raw, server_hostname="wronghost.invalid"):
            pass
    status, _, _ = m.request("GET", "/2.0/user", plain=True)
    expect_equal(status, 401, "status on the plain port")


@test
def code_flow_with_pkce(m):
    token = m.login()
    expect_equal(len(token["access_token"]), 2600, "access token length")
    expect_equal(token["scope"], "account pullrequest:write repository:write", "scope")
    expect_equal(token["token_type"], "bearer", "token_type")
    expect_equal(token["state"], "authorization_code", "state")
    expect_equal(token["expires_in"], 7200, "expires_in")
    expect("scopes" not in token and "refresh_token" in token, str(token.keys()))
    status, headers, user = m.api("/2.0/user", token["access_token"])
    expect_equal(status, 200, "user status")
    expect_equal(user["username"], "bbo-tester", "username")
    expect_equal(headers["X-OAuth-Scopes"],
                 "account, pullrequest:write, repository:write", "X-OAuth-Scopes")
    stats = m.stats()
    expect_equal(stats["grants"]["authorization_code"], 1, "code grants")
    last = stats["last_token_request"]
    expect_equal(last["client_auth"], "basic", "client auth")
    expect_equal(last["query"], "", "token URL query")
    expect_equal(last["form_keys"], ["code", "code_verifier", "grant_type", "redirect_uri"],
                 "form keys")
    expect_equal(last["headers"]["authorization"], "Basic [redacted]", "redacted header")
    expect(DEFAULT_SECRET not in json.dumps(stats), "secret in stats")


@test
def state_is_copied_verbatim(m):
    state = "a b+c/d?e&f=g%h#i\u00e9"
    status, answer = m.authorize({"client_id": DEFAULT_KEY, "response_type": "code",
                                  "state": state})
    expect_equal(status, 302, "status")
    expect_equal(answer["state"], state, "state")
    expect(answer["_location"].startswith("http://127.0.0.1/callback?code="),
           answer["_location"])
    expect(" " not in answer["_location"] and "+" not in answer["_location"],
           "state not percent-encoded")


@test
def code_reuse_revokes_tokens(m):
    params = {"client_id": DEFAULT_KEY, "response_type": "code", "state": "s",
              "code_challenge": RFC_CHALLENGE, "code_challenge_method": "S256"}
    _, answer = m.authorize(params)
    form = {"grant_type": "authorization_code", "code": answer["code"],
            "code_verifier": RFC_VERIFIER}
    status, token = m.token(form)
    expect_equal(status, 200, f"first exchange ({token})")
    expect_equal(m.api("/2.0/user", token["access_token"])[0], 200, "user")
    status, error = m.token(form)
    expect_equal((status, error["error"]), (400, "invalid_grant"), "reuse")
    expect("already used" in error["error_description"], error["error_description"])
    expect_equal(m.api("/2.0/user", token["access_token"])[0], 401, "revoked token")
    status, error = m.token({"grant_type": "refresh_token",
                             "refresh_token": token["refresh_token"]})
    expect_equal(status, 400, "refresh of a revoked grant")
    expect_equal(m.stats()["revoked_grants"], 1, "revoked_grants")


@test
def code_exchange_failures(m):
    def fresh_code(**extra):
        params = {"client_id": DEFAULT_KEY, "response_type": "code", **extra}
        status, answer = m.authorize(params)
        expect_equal(status, 302, f"authorize ({answer})")
        return answer["code"]

    pkce = {"code_challenge": RFC_CHALLENGE, "code_challenge_method": "S256"}
    cases = [
        (fresh_code(**pkce), {"code_verifier": "x" * 43}, "does not match"),
        (fresh_code(**pkce), {}, "code_verifier missing"),
        (fresh_code(**pkce), {"code_verifier": "short"}, "Malformed code_verifier"),
        (fresh_code(), {"code_verifier": RFC_VERIFIER}, "no code_challenge"),
        (fresh_code(redirect_uri=REDIRECT), {}, "does not match the authorization"),
        (fresh_code(), {"redirect_uri": REDIRECT}, "was not sent to authorize"),
        ("no-such-code", {}, "Invalid authorization code"),
    ]
    for code, extra, description in cases:
        status, error = m.token({"grant_type": "authorization_code", "code": code, **extra})
        expect_equal((status, error["error"]), (400, "invalid_grant"), description)
        expect(description in error["error_description"],
               f"{error['error_description']!r} lacks {description!r}")
    # No PKCE, no redirect_uri on either side: fine (Bitbucket's documented flow).
    status, token = m.token({"grant_type": "authorization_code", "code": fresh_code()})
    expect_equal(status, 200, f"plain code exchange ({token})")


@test
def authorize_checks(m):
    base = {"client_id": DEFAULT_KEY, "response_type": "code", "state": "st"}
    status, answer = m.authorize({**base, "redirect_uri": "http://127.0.0.1:9/callback/x?a=1"})
    expect_equal(status, 302, "loopback port and deeper path accepted")
    expect(answer["_location"].startswith("http://127.0.0.1:9/callback/x?a=1&code="),
           answer["_location"])
    for bad in ("http://evil.example/callback", "https://127.0.0.1/callback",
                "http://127.0.0.1.evil.example/callback", "http://127.0.0.1/other",
                "http://user@127.0.0.1/callback"):
        status, answer = m.authorize({**base, "redirect_uri": bad})
        expect_equal((status, answer.get("error")), (400, "invalid_request"), bad)
    status, answer = m.authorize({**base, "client_id": "nobody"})
    expect_equal(status, 400, "unknown client_id")
    status, answer = m.authorize({**base, "scope": "account team"})
    expect_equal(answer.get("error"), "invalid_scope", "scope beyond the consumer's")
    expect(answer["error_description"].endswith(": team"), answer["error_description"])
    expect_equal(answer.get("state"), "st", "state on errors")
    status, answer = m.authorize({**base, "scope": "repository pullrequest"})
    expect("code" in answer, "implied scopes are within the consumer's")
    status, answer = m.authorize({**base, "code_challenge": RFC_VERIFIER,
                                  "code_challenge_method": "plain"})
    expect_equal(answer.get("error"), "invalid_request", "plain PKCE")
    status, answer = m.authorize({**base, "response_type": "id_token"})
    expect_equal(answer.get("error"), "unsupported_response_type", "response_type")
    m.control("/config", {"deny": True})
    status, answer = m.authorize(base)
    expect_equal((answer.get("error"), answer.get("state")), ("access_denied", "st"), "deny")


@test
def implicit_grant(m):
    status, answer = m.authorize({"client_id": DEFAULT_KEY, "response_type": "token",
                                  "state": "imp"})
    expect_equal(status, 302, "status")
    expect("#access_token=" in answer["_location"], answer["_location"])
    expect_equal((answer["state"], answer["token_type"]), ("imp", "bearer"), "fragment")
    expect_equal(m.api("/2.0/user", answer["access_token"])[0], 200, "user")
    expect_equal(m.stats()["grants"]["implicit"], 1, "implicit count")


@test
def refresh_rotation_and_replay(m):
    first = m.login()
    status, second = m.token({"grant_type": "refresh_token",
                              "refresh_token": first["refresh_token"]})
    expect_equal(status, 200, f"refresh ({second})")
    expect_equal(second["state"], "refresh_token", "state")
    expect(second["refresh_token"] != first["refresh_token"], "refresh token not rotated")
    expect(second["access_token"] != first["access_token"], "same access token")
    expect_equal(m.api("/2.0/user", first["access_token"])[0], 200, "old access token")
    status, third = m.token({"grant_type": "refresh_token",
                             "refresh_token": second["refresh_token"]}, auth="form")
    expect_equal(status, 200, "second refresh")
    status, error = m.token({"grant_type": "refresh_token",
                             "refresh_token": first["refresh_token"]})
    expect_equal((status, error), (400, {"error": "invalid_grant",
                                         "error_description": "Invalid refresh_token"}),
                 "replay")
    stats = m.stats()
    expect_equal((stats["refresh_replays"], stats["revoked_grants"]), (1, 1), "counters")
    expect_equal(stats["grants"]["refresh_token"], 2, "refresh grants")
    status, _ = m.token({"grant_type": "refresh_token",
                         "refresh_token": third["refresh_token"]})
    expect_equal(status, 400, "the newest refresh token died with the grant")
    expect_equal(m.api("/2.0/user", third["access_token"])[0], 401, "access token revoked")


@test
def legacy_scopes(m):
    m.control("/config", {"legacy_scopes": True, "access_ttl": 3600, "token_length": 100})
    token = m.login()
    expect("scope" not in token, "modern field in legacy mode")
    expect_equal(token["scopes"], "account pullrequest:write repository:write", "scopes")
    expect_equal((token["expires_in"], len(token["access_token"])), (3600, 100), "config")
    status, token = m.token({"grant_type": "client_credentials"})
    expect("refresh_token" in token, "legacy client credentials has a refresh token")


@test
def client_credentials(m):
    status, token = m.token({"grant_type": "client_credentials"})
    expect_equal(status, 200, f"status ({token})")
    expect_equal(token["state"], "client_credentials", "state")
    expect("refresh_token" not in token, "modern client credentials has no refresh token")
    expect_equal(m.api("/2.0/user", token["access_token"])[0], 200, "user")
    m.control("/config", {"consumer": {"private": False}})
    status, error = m.token({"grant_type": "client_credentials"})
    expect_equal((status, error["error"]), (400, "unauthorized_client"), "public consumer")
    expect('"public"' in error["error_description"], error["error_description"])


@test
def jwt_grant(m):
    form = {"grant_type": "urn:bitbucket:oauth2:jwt"}

    def attempt(jwt, scheme="JWT"):
        return m.token(form, auth=None, headers={"Authorization": f"{scheme} {jwt}"})

    status, token = attempt(make_jwt(jwt_claims()))
    expect_equal(status, 200, f"status ({token})")
    expect("refresh_token" not in token, "JWT grant has no refresh token")
    expect_equal(m.stats()["grants"]["jwt"], 1, "jwt count")
    now = int(time.time())
    for jwt, scheme, why in [
            (make_jwt(jwt_claims()), "jwt", "lower-case scheme"),
            (make_jwt(jwt_claims(), secret="wrong"), "JWT", "bad signature"),
            (make_jwt(jwt_claims(iat=now - 600, exp=now - 60)), "JWT", "expired"),
            (make_jwt(jwt_claims(iss="other")), "JWT", "issuer"),
            (make_jwt({k: v for k, v in jwt_claims().items() if k != "qsh"}), "JWT", "qsh"),
            (make_jwt(jwt_claims(), alg="HS512"), "JWT", "algorithm"),
            ("not.a.jwt", "JWT", "malformed")]:
        status, error = attempt(jwt, scheme)
        expect_equal((status, error["error"]), (401, "unauthorized_client"), why)
    status, error = m.token(form)   # Basic instead of a JWT
    expect_equal(status, 401, "JWT grant with Basic")


@test
def client_authentication(m):
    form = {"grant_type": "client_credentials"}
    status, _ = m.token(form, auth="form")
    expect_equal(status, 200, "form credentials")
    expect_equal(m.stats()["last_token_request"]["client_auth"], "form", "client_auth")
    status, error = m.token({**form, "client_id": DEFAULT_KEY,
                             "client_secret": DEFAULT_SECRET})
    expect_equal((status, error["error"]), (401, "unauthorized_client"), "basic and form")
    status, error = m.token(form, auth=None)
    expect_equal((status, error["error_description"]),
                 (401, "Invalid OAuth client credentials"), "no credentials")
    status, _ = m.token(form, secret="wrong")
    expect_equal(status, 401, "wrong secret")
    status, _ = m.token(form, headers={"Authorization": "Basic !!!"}, auth=None)
    expect_equal(status, 401, "malformed Basic")
    # RFC 6749 2.3.1: Basic user and password are form-url-encoded first.
    odd = "s+cr%t:w/ é"
    m.control("/config", {"consumer": {"secret": odd}})
    m.seen_secrets.add(odd)
    status, _ = m.token(form, secret=odd)
    expect_equal(status, 200, "form-encoded Basic secret")
    raw = base64.b64encode(f"{DEFAULT_KEY}:{odd}".encode()).decode()
    status, _ = m.token(form, auth=None, headers={"Authorization": f"Basic {raw}"})
    expect_equal(status, 401, "Basic secret not form-encoded")


@test
def token_endpoint_errors(m):
    status, error = m.token({}, headers={"Content-Type": "application/json"},
                            body=json.dumps({"grant_type": "client_credentials"}))
    expect_equal((status, error), (400, {"error": "invalid_grant",
                                         "error_description": "Unsupported grant type: None"}),
                 "JSON body")
    status, error = m.token({"grant_type": "password"})
    expect_equal((status, error["error"]), (400, "unsupported_grant_type"), "password")
    status, error = m.token({}, body="grant_type=client_credentials&grant_type=x")
    expect_equal((status, error["error"]), (400, "invalid_request"), "duplicate")
    status, _, _ = m.request("GET", CLOUD_TOKEN)
    expect_equal(status, 405, "GET on the token endpoint")
    m.control("/config", {"consumer": {"callback_url": None}})
    status, error = m.token({"grant_type": "client_credentials"})
    expect_equal((status, error["error_description"]),
                 (400, "No callback uri defined for the OAuth client."), "no callback")


@test
def user_endpoint(m):
    token = m.login()["access_token"]
    status, _, _ = m.request("GET", "/2.0/user?" + urllib.parse.urlencode(
        {"access_token": token}))
    expect_equal(status, 401, "token in the query")
    expect_equal(m.api("/2.0/user", token, scheme="bearer")[0], 401, "scheme case")
    expect_equal(m.api("/2.0/user", token, scheme="Token")[0], 401, "other scheme")
    status, _, error = m.api("/2.0/user", "made-up")
    expect_equal((status, error["type"]), (401, "error"), "unknown token")
    expect_equal(m.control("/expire", {}), {"expired": 1}, "expire")
    status, headers, error = m.api("/2.0/user", token)
    expect_equal((status, error["error"]["message"]),
                 (401, "Access token expired. Use your refresh token to obtain a new "
                       "access token."), "expired")
    expect("account" in headers["X-OAuth-Scopes"], "X-OAuth-Scopes on 401")
    narrow = m.login(scope="repository:write")["access_token"]
    status, headers, error = m.api("/2.0/user", narrow)
    expect_equal(status, 403, "missing scope")
    expect_equal(error["error"]["detail"], {"granted": ["repository:write"],
                                            "required": ["account"]}, "detail")
    expect_equal((headers["X-OAuth-Scopes"], headers["X-Accepted-OAuth-Scopes"]),
                 ("repository:write", "account"), "scope headers")
    m.control("/config", {"consumer": {"scopes": "account:write"}})
    wide = m.login(scope="account:write")["access_token"]
    expect_equal(m.api("/2.0/user", wide)[0], 200, "account:write implies account")
    expect_equal(m.stats()["api_requests"], 7, "api_requests")


@test
def repository_pagination(m):
    token = m.login(scope="pullrequest")["access_token"]   # implies repository
    path, names, pages = "/2.0/repositories/bbo-tester?pagelen=10", [], 0
    while path:
        status, _, page = m.api(path, token)
        expect_equal(status, 200, f"page {pages + 1}")
        expect_equal(page["size"], 25, "size")
        names += [r["full_name"] for r in page["values"]]
        pages += 1
        url = page.get("next")
        if url:
            expect(url.startswith(f"https://127.0.0.1:{m.info['port']}/"), url)
        path = url and urllib.parse.urlsplit(url)._replace(scheme="", netloc="").geturl()
    expect_equal(pages, 3, "pages")
    expect_equal(names, [f"bbo-tester/repo-{n:02d}" for n in range(1, 26)], "names")
    # "next" uses the Host the client sent.
    conn = m.connection(plain=True)
    try:
        conn.request("GET", "/2.0/repositories/bbo-tester?page=2&pagelen=5",
                     headers={"Host": "localhost:1234", "Authorization": f"Bearer {token}"})
        page = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    expect_equal(page["next"], "http://localhost:1234/2.0/repositories/bbo-tester"
                 "?page=3&pagelen=5", "next link")
    narrow = m.login(scope="account")["access_token"]
    expect_equal(m.api("/2.0/repositories/bbo-tester", narrow)[0], 403, "scope")


@test
def data_center(m):
    base = {"client_id": DEFAULT_KEY, "response_type": "code", "state": "dc",
            "redirect_uri": REDIRECT, "scope": "REPO_READ"}
    _, answer = m.authorize(base, DC_AUTHORIZE)
    expect_equal(answer.get("error"), "invalid_request", "PKCE required")
    _, answer = m.authorize({**base, "scope": "", "code_challenge": RFC_CHALLENGE,
                             "code_challenge_method": "S256"}, DC_AUTHORIZE)
    expect_equal(answer.get("error"), "invalid_request", "scope required")
    token = m.login(scope="REPO_READ PUBLIC_REPOS", path=DC_AUTHORIZE, token_path=DC_TOKEN)
    expect_equal(token["scope"], "REPO_READ PUBLIC_REPOS", "scope")
    status, headers, props = m.api("/rest/api/latest/application-properties",
                                   token["access_token"])
    expect_equal((status, headers["X-AUSERNAME"], props["version"]),
                 (200, "bbo-tester", "8.19.0"), "application-properties")
    status, _, error = m.api("/rest/api/latest/application-properties", "bad")
    expect_equal((status, "errors" in error), (401, True), "DC error style")


@test
def unknown_paths(m):
    status, headers, body = m.request("GET", "/2.0/nothing")
    expect_equal((status, headers["Content-Type"]), (404, "application/json"), "404")
    json.loads(body)
    m.control("/nothing", {}, status=404)
    m.control("/fault", {"name": "explode"}, status=400)
    m.control("/fault", {"name": "reset", "times": 0}, status=400)
    m.control("/config", {"colour": "blue"}, status=400)
    m.control("/config", {"access_ttl": "7200"}, status=400)


# ------------------------------------------------------------- faults

@test
def fault_html502_and_error200(m):
    m.fault(name="html502")
    m.fault(name="error200")
    status, headers, body = m.request("GET", "/2.0/user")
    expect_equal((status, headers["Content-Type"]), (502, "text/html"), "html502")
    expect(b"502 Bad Gateway" in body, body)
    status, token = m.token({"grant_type": "client_credentials"})
    expect_equal((status, token["error"]), (200, "invalid_grant"), "error200")
    expect_equal(m.stats()["grants"]["client_credentials"], 0, "error200 issued nothing")
    status, _ = m.token({"grant_type": "client_credentials"})
    expect_equal(status, 200, "faults used up")
    expect_equal(m.stats()["faults_hit"], 2, "faults_hit")


@test
def fault_truncated(m):
    m.fault(name="truncated", path="/access_token")
    conn = m.connection()
    try:
        conn.request("POST", CLOUD_TOKEN, body="grant_type=client_credentials",
                     headers={"Content-Type": FORM,
                              "Authorization": basic(DEFAULT_KEY, DEFAULT_SECRET)})
        response = conn.getresponse()
        expect_equal(response.status, 200, "status")
        try:
            response.read()
            raise AssertionError("the truncated body read completely")
        except http.client.IncompleteRead as e:
            expect(e.expected > 0 and len(e.partial) > 1000, "half a token")
    finally:
        conn.close()
    expect_equal(m.stats()["grants"]["client_credentials"], 1, "the token was issued")


@test
def fault_huge(m):
    m.fault(name="huge")
    conn = m.connection()
    try:
        conn.request("GET", "/2.0/user")
        response = conn.getresponse()
        expect_equal(response.headers["Content-Length"], str(10 << 20), "length")
        chunk = response.read(1 << 20)
        expect(chunk.startswith(b'{"access_token":"AAAA'), chunk[:40])
    finally:
        conn.close()      # stop at a 1 MiB "cap"
    status, _, _ = m.request("GET", "/2.0/user")
    expect_equal(status, 401, "the server is still fine")


@test
def fault_slow(m):
    m.fault(name="slow", seconds=0.3)
    started = time.monotonic()
    status, _ = m.token({"grant_type": "client_credentials"})
    elapsed = time.monotonic() - started
    expect_equal(status, 200, "processed after the delay")
    expect(elapsed >= 0.3, f"answered after {elapsed:.2f} s")


def expect_reset(m, form):
    try:
        m.token(form)
        raise AssertionError("no reset")
    except ConnectionResetError:
        pass


@test
def fault_reset(m):
    m.fault(name="reset", path="access_token")
    expect_reset(m, {"grant_type": "client_credentials"})
    stats = m.stats()
    expect_equal((stats["resets"], stats["grants"]["client_credentials"],
                  stats["token_requests"]), (1, 0, 0), "not processed")


@test
def fault_reset_after_processing(m):
    token = m.login()
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    m.fault(name="reset_after_processing")
    expect_reset(m, form)
    expect_equal(m.stats()["grants"]["refresh_token"], 1, "the refresh happened")
    # The answer was lost: retrying blindly replays the rotated token.
    status, _ = m.token(form)
    expect_equal(status, 400, "blind retry")
    stats = m.stats()
    expect_equal((stats["refresh_replays"], stats["revoked_grants"]), (1, 1), "revoked")


@test
def fault_rate_limit_and_unavailable(m):
    m.fault(name="rate429", retry_after=7)
    m.fault(name="rate429")
    m.fault(name="unavailable503", retry_after=3)
    status, headers, body = m.request("POST", CLOUD_TOKEN)
    expect_equal((status, headers["Retry-After"], body),
                 (429, "7", b"Rate limit for this resource has been exceeded"), "429")
    expect(headers["Content-Type"].startswith("text/plain"), headers["Content-Type"])
    status, headers, _ = m.request("POST", CLOUD_TOKEN)
    expect_equal((status, headers["Retry-After"]), (429, None), "429 without Retry-After")
    status, headers, _ = m.request("GET", "/2.0/user")
    expect_equal((status, headers["Retry-After"]), (503, "3"), "503")


@test
def fault_redirect(m):
    m.fault(name="redirect")
    m.fault(name="redirect", redirect_to="https://127.0.0.1:1/elsewhere")
    status, headers, _ = m.request("POST", CLOUD_TOKEN)
    expect_equal((status, headers["Location"]), (302, "https://evil.invalid/steal"), "302")
    status, headers, _ = m.request("GET", "/2.0/user")
    expect_equal(headers["Location"], "https://127.0.0.1:1/elsewhere", "redirect_to")


@test
def fault_path_and_times(m):
    m.fault(name="html502", path="/2.0/user", times=-1)
    for _ in range(3):
        expect_equal(m.request("GET", "/2.0/user")[0], 502, "every matching request")
    status, _ = m.token({"grant_type": "client_credentials"})
    expect_equal(status, 200, "other paths untouched")
    m.control("/fault/clear", {})
    expect_equal(m.request("GET", "/2.0/user")[0], 401, "cleared")
    m.fault(name="unavailable503", times=2)
    statuses = [m.request("GET", "/2.0/user")[0] for _ in range(3)]
    expect_equal(statuses, [503, 503, 401], "times=2")


# ------------------------------------------------------ connections

@test
def keep_alive_counts_one_connection(m):
    conn = m.connection()
    try:
        for _ in range(2):
            conn.request("GET", "/2.0/user")
            response = conn.getresponse()
            response.read()
            expect_equal(response.status, 401, "status")
    finally:
        conn.close()
    expect_equal(m.stats()["connections"], 1, "connections")
    m.request("GET", "/2.0/user", plain=True)
    expect_equal(m.stats()["connections"], 2, "connections after the plain port")


@test
def idle_close(m):
    m.control("/config", {"idle_close_ms": 200})
    conn = m.connection()
    try:
        conn.connect()
        time.sleep(0.4)         # before the first request: no idle limit
        conn.request("GET", "/2.0/user")
        response = conn.getresponse()
        response.read()
        expect_equal(response.headers["Connection"], None, "no Connection: close")
        time.sleep(0.5)
        try:
            conn.request("GET", "/2.0/user")
            conn.getresponse().read()
            raise AssertionError("the idle connection was not closed")
        except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLError):
            pass
    finally:
        conn.close()
    m.control("/config", {"idle_close_ms": None})
    conn = m.connection()
    try:
        for _ in range(2):
            conn.request("GET", "/2.0/user")
            conn.getresponse().read()
            time.sleep(0.3)
    finally:
        conn.close()
    expect_equal(m.stats()["connections"], 2, "connections")


# ----------------------------------------------------- processes

@test
def ready_file_and_sigterm(m):
    directory = tempfile.mkdtemp(prefix="bbmock-selftest-")
    try:
        ready = os.path.join(directory, "ready.json")
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "bbmock.py"), "--dir", directory,
             "--ready-file", ready], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = process.stdout.readline()
        info = json.loads(line)
        with open(ready, encoding="utf-8") as f:
            expect_equal(json.loads(f.read()), info, "ready file")
        expect_equal(set(info), {"port", "wrong_port", "plain_port", "control_port",
                                 "ca", "base"}, "ready keys")
        process.terminate()
        expect_equal(process.wait(5), 0, "exit status after SIGTERM")
        process.stdout.close()
    finally:
        shutil.rmtree(directory)


@test
def with_mock_runner(m):
    check = ("import os, sys, urllib.request, json; "
             "r = urllib.request.urlopen(os.environ['BBMOCK_CONTROL'] + '/stats'); "
             "assert json.load(r)['connections'] == 0; "
             "assert os.environ['BBMOCK_KEY'] == 'bbo-test-key'; "
             "sys.exit(7)")
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "with_mock.py"), "--",
         sys.executable, "-c", check], stderr=subprocess.PIPE, timeout=60)
    expect_equal(result.returncode, 7, f"exit status ({result.stderr.decode()})")


# ------------------------------------ web app additions (consent, pull requests)

def consent_request(m, decision, params):
    """POST the consent form's answer as a browser would: (status, Location)."""
    body = urllib.parse.urlencode({"request": urllib.parse.urlencode(params),
                                   "decision": decision})
    status, headers, _ = m.request("POST", CLOUD_AUTHORIZE, body, {"Content-Type": FORM})
    return status, headers.get("Location")


@test
def consent_form(m):
    params = {"client_id": DEFAULT_KEY, "response_type": "code", "state": "a&b <c>",
              "redirect_uri": REDIRECT}
    query = urllib.parse.urlencode(params)
    status, _, _ = m.request("GET", f"{CLOUD_AUTHORIZE}?{query}")
    expect_equal(status, 302, "auto-approve stays the default")
    m.control("/config", {"consent": True})
    status, headers, body = m.request("GET", f"{CLOUD_AUTHORIZE}?{query}")
    page = body.decode()
    expect_equal((status, headers.get_content_type()), (200, "text/html"), "consent page")
    for needle in ('id="grant"', 'id="cancel"', "Grant access", "Pull requests: Write",
                   "Account: Read", 'method="post"'):
        expect(needle in page, f"consent page lacks {needle}")
    expect("<c>" not in page, "the state is escaped in the page")
    status, location = consent_request(m, "grant", params)
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    expect_equal((status, answer.get("state")), (302, "a&b <c>"), "grant")
    expect(location.startswith(REDIRECT + "?") and "code" in answer, location)
    status, location = consent_request(m, "cancel", params)
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    expect_equal((status, answer.get("error"), answer.get("state")),
                 (302, "access_denied", "a&b <c>"), "cancel")
    # the POST is checked as the GET was: no redirect to a foreign URI
    status, location = consent_request(m, "grant", {**params, "redirect_uri":
                                                    "http://evil.example/callback"})
    expect_equal((status, location), (400, None), "foreign redirect_uri")
    status, location = consent_request(m, "maybe", params)
    expect_equal(status, 400, "unknown decision")
    # the control API can still decide for a test
    url = f"{m.info['base']}{CLOUD_AUTHORIZE}?{query}"
    result = m.control("/authorize", {"url": url, "decision": "cancel"})
    expect("error=access_denied" in result["location"], result["location"])


@test
def consumer_with_fewer_scopes(m):
    m.control("/config", {"consumer": {"scopes": "account pullrequest"}})
    token = m.login()
    expect_equal(token["scope"], "account pullrequest", "granted what the consumer has")
    status, answer = m.authorize({"client_id": DEFAULT_KEY, "response_type": "code",
                                  "scope": "account pullrequest:write"})
    expect_equal(answer.get("error"), "invalid_scope", "more than the consumer's")


def pullrequest_pages(m, token, path):
    titles, pages = [], 0
    while path:
        status, _, page = m.api(path, token)
        expect_equal(status, 200, f"page status ({page})")
        titles += [(p["id"], p["title"]) for p in page["values"]]
        pages += 1
        path = page.get("next", "").replace(m.info["base"], "") or None
    return titles, pages


@test
def pullrequests_and_comments(m):
    token = m.login()["access_token"]
    base = "/2.0/repositories/bbo-tester/repo-01/pullrequests"
    titles, pages = pullrequest_pages(m, token, base)
    expect_equal((len(titles), pages), (23, 3), "open pull requests and pages")
    expect_equal([n for n, _ in titles], list(range(1, 24)), "ids")
    expect("<script>" in titles[2][1], "the HTML title comes as it is")
    titles, _ = pullrequest_pages(m, token, base + "?state=MERGED&state=DECLINED")
    expect_equal([n for n, _ in titles], [24, 25], "other states")
    status, _, answer = m.api("/2.0/repositories/bbo-tester/nothing/pullrequests", token)
    expect_equal(status, 404, "unknown repository")
    comments = base + "/2/comments"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, hdrs, body = m.request("POST", comments,
                                   json.dumps({"content": {"raw": "Looks good <3"}}), headers)
    expect_equal(status, 201, f"comment ({body})")
    expect_equal(json.loads(body)["content"]["raw"], "Looks good <3", "answer")
    status, _, _ = m.request("POST", comments, json.dumps({"content": {}}), headers)
    expect_equal(status, 400, "no raw text")
    status, _, _ = m.request("POST", base + "/99/comments",
                             json.dumps({"content": {"raw": "x"}}), headers)
    expect_equal(status, 404, "unknown pull request")
    posted = m.control("/comments")["comments"]
    expect_equal([(c["repo"], c["pullrequest"], c["raw"]) for c in posted],
                 [("bbo-tester/repo-01", 2, "Looks good <3")], "control /comments")
    m.control("/pullrequests", {"repo": "ws/new", "pullrequests": [{"title": "only"}]})
    titles, _ = pullrequest_pages(m, token, "/2.0/repositories/ws/new/pullrequests")
    expect_equal(titles, [(1, "only")], "a repository set by the control API")


@test
def pullrequest_scopes(m):
    m.control("/config", {"consumer": {"scopes": "account repository"}})
    token = m.login()["access_token"]
    base = "/2.0/repositories/bbo-tester/repo-01/pullrequests"
    status, headers, _ = m.api(base, token)
    expect_equal((status, headers.get("X-Accepted-OAuth-Scopes")), (403, "pullrequest"),
                 "listing needs pullrequest")
    m.control("/config", {"consumer": {"scopes": "account pullrequest"}})
    token = m.login()["access_token"]
    expect_equal(m.api(base, token)[0], 200, "pullrequest lists")
    status, headers, _ = m.request(
        "POST", base + "/1/comments", json.dumps({"content": {"raw": "x"}}),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    expect_equal((status, headers.get("X-Accepted-OAuth-Scopes")),
                 (403, "pullrequest:write"), "commenting needs pullrequest:write")
    expect_equal(m.control("/comments")["comments"], [], "nothing posted")


def no_secrets_in_log(m, log_path):
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    expect(text.strip(), "the mock logged nothing")
    leaked = [s for s in m.seen_secrets if s and s in text]
    expect(not leaked, f"{len(leaked)} secrets in the log")


# ------------------------------------------------------------------ main

def main():
    verbose = "-v" in sys.argv[1:]
    directory = tempfile.mkdtemp(prefix="bbmock-selftest-")
    log_path = os.path.join(directory, "bbmock.log")
    passed = failed = 0
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            process, info = start_mock(directory, stderr=log)
        m = Mock(info)
        try:
            for function in TESTS:
                m.control("/reset", {})
                started = time.monotonic()
                try:
                    function(m)
                    passed += 1
                    print(f"ok   {function.__name__} ({time.monotonic() - started:.2f} s)")
                except Exception:       # report every failure, keep going
                    failed += 1
                    print(f"FAIL {function.__name__}")
                    traceback.print_exc(limit=None if verbose else 3, file=sys.stdout)
        finally:
            stop_mock(process)
        try:
            no_secrets_in_log(m, log_path)
            passed += 1
            print("ok   no_secrets_in_log")
        except AssertionError as e:
            failed += 1
            print(f"FAIL no_secrets_in_log: {e}")
        if verbose:
            with open(log_path, encoding="utf-8") as f:
                print(f.read())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
