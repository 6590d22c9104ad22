#!/usr/bin/python3
"""bbmock: a mock Bitbucket Cloud (and a little Data Center) OAuth 2.0 server.

The bboauth tests and demo run the real libcurl transport against it. It
speaks the protocol facts of shared/BITBUCKET.md as strictly as Bitbucket
does, or more strictly where a lenient answer would hide a client bug (single
use codes, rotating refresh tokens whose replay revokes the grant, tokens only
in "Authorization: Bearer"), and it can inject the network and server faults a
client must survive. Python 3 standard library only; see README.md.

    bbmock.py --dir DIR [--ready-file FILE]

Secrets (client secret, codes, tokens) never reach the log: only the method
and the path of each request are logged, never the query or the headers.
"""

import argparse
import base64
import dataclasses
import hashlib
import hmac
import html
import http.server
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

# --------------------------------------------------------------- constants

DEFAULT_KEY = "bbo-test-key"
DEFAULT_SECRET = "bbo-test-secret-0123456789"
DEFAULT_CALLBACK = "http://127.0.0.1/callback"
DEFAULT_SCOPES = ("account", "pullrequest:write", "repository:write")
DEFAULT_JWT_SECRET = "bbo-connect-shared-secret"

USERNAME = "bbo-tester"
USER_UUID = "{6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5}"
ACCOUNT_ID = "557058:6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
REPO_COUNT = 25

CODE_TTL = 600          # seconds an authorization code lives (RFC 6749 4.1.2)
CODE_LENGTH = 32
REFRESH_LENGTH = 48
IDLE_TIMEOUT = 60.0     # seconds a connection may sit idle, or a request stall
MAX_BODY = 1 << 20      # larger request bodies are refused with 413
HUGE_SIZE = 10 << 20    # body size of the "huge" fault
HUGE_CHUNK = 64 << 10

JWT_GRANT = "urn:bitbucket:oauth2:jwt"
GRANT_KINDS = ("authorization_code", "refresh_token", "client_credentials",
               "jwt", "implicit")
COUNTERS = ("connections", "token_requests", "refresh_replays",
            "revoked_grants", "resets", "api_requests", "faults_hit")
FAULTS = ("html502", "error200", "truncated", "huge", "slow", "reset",
          "reset_after_processing", "rate429", "unavailable503", "redirect")

# Cloud scope implications (granting the key also grants the values).
SCOPE_IMPLIES = {
    "repository:write": ("repository",),
    "pullrequest": ("repository",),
    "pullrequest:write": ("pullrequest", "repository:write"),
    "project": ("repository",),
    "project:write": ("project:admin",),
    "issue:write": ("issue",),
    "snippet:write": ("snippet",),
    "account:write": ("account",),
    "team:write": ("team",),
    "pipeline:write": ("pipeline",),
    "runner:write": ("runner",),
}
DC_SCOPES = ("PUBLIC_REPOS", "REPO_READ", "REPO_WRITE", "REPO_ADMIN",
             "PROJECT_ADMIN", "ACCOUNT_WRITE", "ADMIN_WRITE", "SYSTEM_ADMIN")

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")   # base64url(SHA-256), no padding
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1

CLOUD, DATA_CENTER = "cloud", "dc"
AUTHORIZE_PATHS = {"/site/oauth2/authorize": CLOUD,
                   "/rest/oauth2/latest/authorize": DATA_CENTER}
TOKEN_PATHS = ("/site/oauth2/access_token", "/rest/oauth2/latest/token")

# The openssl configuration for the throwaway PKI. Our own file, so the
# system's openssl.cnf (which adds extensions of its own) cannot interfere.
OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[good]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wronghost.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def log(message):
    print(f"bbmock: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------- certificates

def make_certificates(directory):
    """Create a fresh CA and two server certificates in `directory`.

    EC P-256 keys make the three openssl runs take a few tens of
    milliseconds. Returns {"ca", "good", "wrong"} -> (certificate, key).
    """
    config = os.path.join(directory, "openssl.cnf")
    with open(config, "w", encoding="ascii") as f:
        f.write(OPENSSL_CONFIG)

    def issue(name, subject, *signer):
        pem = os.path.join(directory, f"{name}.pem")
        key = os.path.join(directory, f"{name}.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-config", config, "-extensions", name,
             "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
             "-keyout", key, "-out", pem, "-days", "2", "-subj", subject,
             *signer],
            check=True, capture_output=True, stdin=subprocess.DEVNULL)
        return pem, key

    ca = issue("ca", "/CN=bbmock throwaway CA")
    signer = ("-CA", ca[0], "-CAkey", ca[1])
    return {"ca": ca,
            "good": issue("good", "/CN=127.0.0.1", *signer),
            "wrong": issue("wrong", "/CN=wronghost.invalid", *signer)}


def tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


# ---------------------------------------------------------------- helpers

def implied(scopes):
    """Every Cloud scope that `scopes` grants, following SCOPE_IMPLIES."""
    granted, todo = set(), list(scopes)
    while todo:
        scope = todo.pop()
        if scope not in granted:
            granted.add(scope)
            todo.extend(SCOPE_IMPLIES.get(scope, ()))
    return granted


def split_scopes(text):
    """Scopes from a space (or comma) separated list, duplicates dropped."""
    return list(dict.fromkeys(s for s in re.split(r"[\s,]+", text) if s))


def random_token(length):
    """`length` random characters of the base64url alphabet."""
    return secrets.token_urlsafe(length)[:length]


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_challenge(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def single_valued(pairs):
    """Parameters as a dict; RFC 6749 3.1 forbids repeating one."""
    params = {}
    for name, value in pairs:
        if name in params:
            raise ValueError(f"Duplicate parameter: {name}")
        params[name] = value
    return params


def media_type(content_type):
    return (content_type or "").split(";", 1)[0].strip().lower()


def redirect_uri_allowed(registered, requested):
    """Bitbucket's rule: `requested` must start with the callback URL.

    Compared piecewise (scheme, host, port, path prefix) rather than as
    strings, so that a loopback callback registered without a port accepts
    any port (RFC 8252 7.3) while "http://127.0.0.1.evil.example/" does not
    pass for "http://127.0.0.1/".
    """
    reg = urllib.parse.urlsplit(registered)
    req = urllib.parse.urlsplit(requested)
    try:
        reg_port, req_port = reg.port, req.port
    except ValueError:            # a port that is not a number
        return False
    if req.username is not None or req.password is not None or req.fragment:
        return False
    if (req.scheme.lower(), req.hostname) != (reg.scheme.lower(), reg.hostname):
        return False
    any_port = reg_port is None and reg.hostname in LOOPBACK_HOSTS
    return (any_port or req_port == reg_port) and req.path.startswith(reg.path)


def add_params(url, params, fragment=False):
    """`url` with `params` added to its query (or set as its fragment).

    Values are percent-encoded with nothing left as "safe", so a state
    full of reserved characters comes back byte for byte.
    """
    encoded = urllib.parse.urlencode(
        {k: v for k, v in params.items() if v is not None},
        quote_via=urllib.parse.quote)
    if fragment:
        return f"{url}#{encoded}"
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{encoded}"


# ------------------------------------------------------ requests, answers

@dataclass
class Request:
    method: str
    path: str
    query: str              # raw, still percent-encoded
    headers: object         # http.client.HTTPMessage (case-insensitive)
    body: bytes
    base_url: str           # scheme://Host as the client addressed us


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: Optional[str] = None
    headers: list = field(default_factory=list)


def json_response(status, obj, headers=()):
    return Response(status, json.dumps(obj).encode(), "application/json",
                    list(headers))


def text_response(status, text, content_type="text/plain; charset=utf-8",
                  headers=()):
    return Response(status, text.encode(), content_type, list(headers))


class Abort(Exception):
    """Raised from deep inside request processing to answer at once."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def oauth_error(status, error, description):
    return Abort(json_response(
        status, {"error": error, "error_description": description}))


def unauthorized_client(description="Invalid OAuth client credentials"):
    return oauth_error(401, "unauthorized_client", description)


def invalid_grant(description):
    return oauth_error(400, "invalid_grant", description)


def api_error(flavor, status, message, headers=(), **extra):
    """An API error in Cloud's or Data Center's JSON style."""
    if flavor == CLOUD:
        body = {"type": "error", "error": {"message": message, **extra}}
    else:
        body = {"errors": [{"context": None, "message": message,
                            "exceptionName": None}]}
    return Abort(json_response(status, body, headers))


class BadControlRequest(Exception):
    """A control API request that cannot be honoured (answered with 400)."""


# ------------------------------------------------------------------ state

@dataclass
class Consumer:
    key: str = DEFAULT_KEY
    secret: str = DEFAULT_SECRET
    callback_url: Optional[str] = DEFAULT_CALLBACK
    scopes: tuple = DEFAULT_SCOPES
    private: bool = True            # private consumers may use client_credentials
    jwt_secret: str = DEFAULT_JWT_SECRET


@dataclass
class Config:
    legacy_scopes: bool = False     # "scopes" instead of "scope" (pre 2026-05-04)
    access_ttl: int = 7200
    token_length: int = 2600        # > 2,500: clients must not use fixed buffers
    deny: bool = False              # the user clicks "Deny" at authorize
    consent: bool = False           # authorize shows a consent form (web app tests)
    idle_close_ms: Optional[int] = None
    consumer: Consumer = field(default_factory=Consumer)


@dataclass
class Grant:
    """One login (or one client credentials / JWT issue): revoked as a whole."""
    kind: str
    client_id: str
    scopes: list
    revoked: bool = False


@dataclass
class Code:
    client_id: str
    redirect_uri: Optional[str]
    challenge: Optional[str]
    scopes: list
    expires_at: float
    grant: Optional[Grant] = None   # set once exchanged: a replay revokes it


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float


@dataclass
class RefreshToken:
    grant: Grant
    used: bool = False


@dataclass
class Fault:
    name: str
    path: Optional[str] = None      # substring of the request path; None: any
    times: int = 1                  # requests left to hit; -1: until cleared
    seconds: float = 5.0            # "slow"
    retry_after: Optional[int] = None   # "rate429", "unavailable503"
    redirect_to: str = "https://evil.invalid/steal"     # "redirect"


# Non-secret request headers whose values last_token_request may show.
VISIBLE_HEADERS = {"accept", "accept-encoding", "connection", "content-length",
                   "content-type", "expect", "host", "transfer-encoding",
                   "user-agent"}


class Bitbucket:
    """The mock's state and behaviour, apart from HTTP plumbing.

    Every public method takes the lock, so the threaded servers can share
    one instance; no method blocks while holding it.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self._reset_locked()

    def _reset_locked(self):
        self.config = Config()
        self.codes = {}
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.faults = []
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.grant_counts = dict.fromkeys(GRANT_KINDS, 0)
        self.last_token_request = None
        self._reset_web_locked()

    # -- routing

    def handle(self, request):
        """Answer one request on the Bitbucket ports."""
        if request.path in AUTHORIZE_PATHS:
            methods = {"GET": lambda: self.authorize(
                AUTHORIZE_PATHS[request.path], request.query),
                       "POST": lambda: self.consent(request)}
        elif request.path in TOKEN_PATHS:
            methods = {"POST": lambda: self.token(request)}
        elif request.path == "/2.0/user":
            methods = {"GET": lambda: self._api(
                request, CLOUD, "account", self._user)}
        elif request.path.rstrip("/") == f"/2.0/repositories/{USERNAME}":
            methods = {"GET": lambda: self._api(
                request, CLOUD, "repository", self._repositories)}
        elif request.path == "/rest/api/latest/application-properties":
            methods = {"GET": lambda: self._api(
                request, DATA_CENTER, None, self._application_properties)}
        elif (web := self._web_routes(request)) is not None:
            methods = web
        else:
            return json_response(404, {"type": "error", "error": {
                "message": f"Resource not found: {request.path}"}})
        answer = methods.get(request.method)
        if answer is None:
            return json_response(
                405, {"type": "error", "error": {"message": "Method not allowed"}},
                [("Allow", ", ".join(methods))])
        return answer()

    # -- authorize

    def authorize(self, flavor, query, decision=None):
        """The authorization endpoint: auto-approves as a user would, or
        (consent mode, decision None) shows the consent form."""
        try:
            params = single_valued(
                urllib.parse.parse_qsl(query, keep_blank_values=True))
        except ValueError as e:
            return json_response(400, {"error": "invalid_request",
                                       "error_description": str(e)})
        with self.lock:
            try:
                return self._authorize_locked(flavor, params, decision)
            except Abort as abort:
                return abort.response

    def _authorize_locked(self, flavor, params, decision=None):
        consumer = self.config.consumer
        # Errors before the redirect target is trusted are shown to the
        # user, never redirected (RFC 6749 4.1.2.1).
        if params.get("client_id") != consumer.key:
            raise oauth_error(400, "invalid_client", "Invalid client_id")
        if not consumer.callback_url:
            raise oauth_error(400, "invalid_request",
                              "No callback uri defined for the OAuth client.")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is not None and not redirect_uri_allowed(
                consumer.callback_url, redirect_uri):
            raise oauth_error(400, "invalid_request",
                              "redirect_uri does not match the callback URL")

        target = redirect_uri or consumer.callback_url
        state = params.get("state")
        response_type = params.get("response_type")
        implicit = response_type == "token"

        def fail(error, description):
            return Response(302, headers=[("Location", add_params(
                target, {"error": error, "error_description": description,
                         "state": state}, fragment=implicit))])

        if response_type != "code" and not (implicit and flavor == CLOUD):
            return fail("unsupported_response_type",
                        f"Unsupported response_type: {response_type}")
        if flavor == CLOUD:
            scopes = split_scopes(params.get("scope") or "") or list(consumer.scopes)
            beyond = [s for s in scopes if s not in implied(consumer.scopes)]
            if beyond:
                return fail("invalid_scope", "These requested scopes are beyond "
                            "the OAuth client's own scopes: " + ", ".join(beyond))
        else:
            scopes = split_scopes(params.get("scope") or "")
            if not scopes:
                return fail("invalid_request", "The scope parameter is required")
            unknown = [s for s in scopes if s not in DC_SCOPES]
            if unknown:
                return fail("invalid_scope", "Unknown scopes: " + ", ".join(unknown))
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                return fail("invalid_request",
                            "code_challenge_method without code_challenge")
            if flavor == DATA_CENTER:
                return fail("invalid_request", "PKCE is required: code_challenge missing")
        elif method != "S256":
            return fail("invalid_request", "code_challenge_method must be S256")
        elif not PKCE_CHALLENGE.fullmatch(challenge):
            return fail("invalid_request", "Malformed code_challenge")
        if decision is None and self.config.consent:
            return consent_page(flavor, params, consumer, scopes)
        if self.config.deny or decision == "cancel":
            return fail("access_denied", "The user denied access to the application.")

        if implicit:
            grant = Grant("implicit", consumer.key, scopes)
            token = self._issue(grant, "implicit", refresh=False)
            return Response(302, headers=[("Location", add_params(
                target, {**token, "state": state}, fragment=True))])
        code = random_token(CODE_LENGTH)
        self.codes[code] = Code(consumer.key, redirect_uri, challenge, scopes,
                                time.time() + CODE_TTL)
        return Response(302, headers=[("Location", add_params(
            target, {"code": code, "state": state}))])

    # -- token endpoint

    def token(self, request):
        with self.lock:
            self.counters["token_requests"] += 1
            try:
                body = self._token_locked(request)
            except Abort as abort:
                return abort.response
        return json_response(200, body, [("Cache-Control", "no-store"),
                                         ("Pragma", "no-cache")])

    def _token_locked(self, request):
        form = form_error = None
        if media_type(request.headers.get("Content-Type")) == \
                "application/x-www-form-urlencoded":
            try:
                form = single_valued(urllib.parse.parse_qsl(
                    request.body.decode("ascii"), keep_blank_values=True))
            except ValueError as e:   # also UnicodeDecodeError: raw non-ASCII
                form_error = f"Malformed form body: {e}"
        methods = self._client_auth(request.headers.get("Authorization", ""),
                                    form or {})
        self._record_token_request(request, form or {}, methods)
        if form_error:
            raise oauth_error(400, "invalid_request", form_error)
        if form is None:
            # Bitbucket reads only form bodies: with JSON it sees no grant_type.
            raise invalid_grant("Unsupported grant type: None")

        consumer = self.config.consumer
        grant_type = form.get("grant_type")
        # Exactly one way of authenticating the client (RFC 6749 2.3).
        if len(methods) != 1:
            raise unauthorized_client()
        method, client_id, credential = methods[0]
        if (method == "jwt") != (grant_type == JWT_GRANT):
            raise unauthorized_client()
        if method == "jwt":
            self._check_jwt(credential, consumer)
        elif client_id != consumer.key or credential is None or \
                not hmac.compare_digest(credential.encode(), consumer.secret.encode()):
            raise unauthorized_client()
        if not consumer.callback_url:
            raise oauth_error(400, "invalid_request",
                              "No callback uri defined for the OAuth client.")

        grants = {"authorization_code": self._grant_code,
                  "refresh_token": self._grant_refresh,
                  "client_credentials": self._grant_client_credentials,
                  JWT_GRANT: self._grant_jwt}
        if grant_type is None:
            raise invalid_grant("Unsupported grant type: None")
        if grant_type not in grants:
            raise oauth_error(400, "unsupported_grant_type",
                              f"Unsupported grant type: {grant_type}")
        return grants[grant_type](form, consumer)

    @staticmethod
    def _client_auth(authorization, form):
        """The client authentications present: [(method, client_id, credential)].

        Basic credentials are form-url-decoded after base64 (RFC 6749
        2.3.1); a malformed Basic header still counts, with no identity,
        so that it fails instead of being ignored.
        """
        methods = []
        scheme, _, value = authorization.partition(" ")
        if scheme == "Basic":
            try:
                user, sep, password = base64.b64decode(
                    value, validate=True).decode("utf-8").partition(":")
            except ValueError:
                sep = ""
            if sep:
                methods.append(("basic", urllib.parse.unquote_plus(user),
                                urllib.parse.unquote_plus(password)))
            else:
                methods.append(("basic", None, None))
        elif scheme == "JWT":       # case-sensitive, as Bitbucket's
            methods.append(("jwt", None, value))
        if "client_id" in form or "client_secret" in form:
            methods.append(("form", form.get("client_id"), form.get("client_secret")))
        return methods

    def _record_token_request(self, request, form, methods):
        """What GET /stats shows of the last token request: no secret values."""
        headers = {}
        for name, value in request.headers.items():
            name = name.lower()
            if name == "authorization":
                value = value.partition(" ")[0] + " [redacted]"
            elif name not in VISIBLE_HEADERS:
                value = "[redacted]"
            # a header sent twice shows twice (the curl transport leaves the
            # form's Content-Type to libcurl: the tests see it arrive once)
            headers[name] = headers[name] + ", " + value if name in headers else value
        self.last_token_request = {
            "path": request.path,
            "query": request.query,
            "headers": headers,
            "form_keys": sorted(form),
            "grant_type": form.get("grant_type"),
            "client_auth": "+".join(m[0] for m in methods) or None,
        }

    def _check_jwt(self, jwt, consumer):
        """Verify a Connect app's HS256 JWT (claims iss, iat, exp, qsh)."""
        parts = jwt.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError
        except ValueError:
            raise unauthorized_client("Malformed JWT") from None
        if header.get("alg") != "HS256":
            raise unauthorized_client("Unsupported JWT algorithm")
        expected = hmac.new(consumer.jwt_secret.encode(),
                            f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise unauthorized_client("Invalid JWT signature")
        if claims.get("iss") != consumer.key:
            raise unauthorized_client("Unknown JWT issuer")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in (iat, exp)) \
                or exp <= iat or not isinstance(claims.get("qsh"), str):
            raise unauthorized_client("Invalid JWT claims")
        if exp <= time.time():
            raise unauthorized_client("JWT expired")

    def _grant_code(self, form, consumer):
        code = self.codes.get(form.get("code") or "")
        if code is None:
            raise invalid_grant("Invalid authorization code")
        if code.client_id != consumer.key:
            raise invalid_grant("Authorization code issued to another client")
        if code.grant is not None:
            # A replayed code may be a stolen one: revoke what it gave (4.1.2).
            self._revoke(code.grant)
            raise invalid_grant("Authorization code already used")
        if code.expires_at <= time.time():
            raise invalid_grant("Authorization code expired")
        sent = form.get("redirect_uri")
        if code.redirect_uri is None and sent is not None:
            raise invalid_grant("redirect_uri was not sent to authorize")
        if code.redirect_uri is not None and sent != code.redirect_uri:
            raise invalid_grant("redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier")
        if code.challenge is None:
            if verifier is not None:
                raise invalid_grant("code_verifier sent but authorize had no code_challenge")
        elif verifier is None:
            raise invalid_grant("code_verifier missing")
        elif not PKCE_VERIFIER.fullmatch(verifier):
            raise invalid_grant("Malformed code_verifier")
        elif not hmac.compare_digest(pkce_challenge(verifier), code.challenge):
            raise invalid_grant("code_verifier does not match code_challenge")
        code.grant = Grant("authorization_code", consumer.key, code.scopes)
        return self._issue(code.grant, "authorization_code", refresh=True)

    def _grant_refresh(self, form, consumer):
        token = self.refresh_tokens.get(form.get("refresh_token") or "")
        if token is None or token.grant.client_id != consumer.key:
            raise invalid_grant("Invalid refresh_token")
        if token.used:
            # Rotation: a used refresh token replayed means two parties hold
            # the grant (or a client retried blindly): revoke all of it.
            self.counters["refresh_replays"] += 1
            self._revoke(token.grant)
        if token.used or token.grant.revoked:
            raise invalid_grant("Invalid refresh_token")
        token.used = True
        return self._issue(token.grant, "refresh_token", refresh=True)

    def _grant_client_credentials(self, form, consumer):
        if not consumer.private:
            raise oauth_error(400, "unauthorized_client",
                              'Cannot use client_credentials with a consumer marked '
                              'as "public". Calls for auto generated consumers '
                              'should use urn:bitbucket:oauth2:jwt instead.')
        grant = Grant("client_credentials", consumer.key, list(consumer.scopes))
        return self._issue(grant, "client_credentials",
                           refresh=self.config.legacy_scopes)

    def _grant_jwt(self, form, consumer):
        scopes = split_scopes(form.get("scope") or "") or list(consumer.scopes)
        beyond = [s for s in scopes if s not in implied(consumer.scopes)]
        if beyond:
            raise oauth_error(400, "invalid_scope", "These requested scopes are "
                              "beyond the OAuth client's own scopes: " + ", ".join(beyond))
        return self._issue(Grant("jwt", consumer.key, scopes), JWT_GRANT, refresh=False)

    def _issue(self, grant, state, refresh):
        """New tokens for `grant`, as the token endpoint's JSON object.

        `state` is what Bitbucket echoes there: the grant type used.
        """
        ttl = self.config.access_ttl
        access = random_token(self.config.token_length)
        self.access_tokens[access] = AccessToken(grant, time.time() + ttl)
        body = {"access_token": access,
                ("scopes" if self.config.legacy_scopes else "scope"): " ".join(grant.scopes),
                "expires_in": ttl, "token_type": "bearer", "state": state}
        if refresh:
            body["refresh_token"] = random_token(REFRESH_LENGTH)
            self.refresh_tokens[body["refresh_token"]] = RefreshToken(grant)
        self.grant_counts["jwt" if state == JWT_GRANT else state] += 1
        return body

    def _revoke(self, grant):
        if not grant.revoked:
            grant.revoked = True
            self.counters["revoked_grants"] += 1

    # -- REST API

    def _api(self, request, flavor, required, answer):
        """Authenticate a Bearer token, check `required` scope, then answer."""
        with self.lock:
            self.counters["api_requests"] += 1
            headers = [("X-OAuth-Scopes", "")]
            if required:
                headers.append(("X-Accepted-OAuth-Scopes", required))
            try:
                token = self._bearer(request, flavor)
                granted = token.grant.scopes
                headers[0] = ("X-OAuth-Scopes", ", ".join(granted))
                if token.expires_at <= time.time():
                    raise api_error(flavor, 401, "Access token expired. Use your "
                                    "refresh token to obtain a new access token.")
                if required and required not in implied(granted):
                    raise api_error(flavor, 403, "Your credentials lack one or more "
                                    "required privilege scopes.",
                                    detail={"granted": granted, "required": [required]})
                response = answer(request)
            except Abort as abort:
                response = abort.response
        response.headers.extend(headers)
        return response

    def _bearer(self, request, flavor):
        """The known, unrevoked token of "Authorization: Bearer", or Abort(401)."""
        if "access_token" in urllib.parse.parse_qs(request.query):
            raise api_error(flavor, 401, "Access tokens are accepted only in the "
                            "Authorization header.")
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            raise api_error(flavor, 401, "Authentication required: "
                            "send Authorization: Bearer <access token>.")
        token = self.access_tokens.get(value)
        if token is None or token.grant.revoked:
            raise api_error(flavor, 401, "Token is invalid or not supported "
                            "for this endpoint.")
        return token

    @staticmethod
    def _user(request):
        return json_response(200, {
            "type": "user", "username": USERNAME, "display_name": "Bbo Tester",
            "uuid": USER_UUID, "account_id": ACCOUNT_ID,
            "links": {"html": {"href": f"https://bitbucket.org/{USERNAME}/"}}})

    @staticmethod
    def _repositories(request):
        query = urllib.parse.parse_qs(request.query)
        try:
            page = int(query.get("page", ["1"])[0])
            pagelen = int(query.get("pagelen", ["10"])[0])
        except ValueError:
            page = pagelen = 0
        if page < 1 or not 1 <= pagelen <= 100:
            raise api_error(CLOUD, 400, "Invalid page or pagelen")
        first = (page - 1) * pagelen
        if first >= REPO_COUNT and page > 1:
            raise api_error(CLOUD, 404, "Invalid page")

        def link(number):   # absolute, on the host the client used
            return f"{request.base_url}{request.path}?" + urllib.parse.urlencode(
                {"page": number, "pagelen": pagelen})

        body = {"pagelen": pagelen, "page": page, "size": REPO_COUNT, "values": [
            {"type": "repository", "full_name": f"{USERNAME}/repo-{n:02d}",
             "name": f"repo-{n:02d}", "slug": f"repo-{n:02d}",
             "uuid": f"{{00000000-0000-4000-8000-0000000000{n:02d}}}",
             "is_private": n % 2 == 0, "scm": "git"}
            for n in range(first + 1, min(first + pagelen, REPO_COUNT) + 1)]}
        if page > 1:
            body["previous"] = link(page - 1)
        if first + pagelen < REPO_COUNT:
            body["next"] = link(page + 1)
        return json_response(200, body)

    @staticmethod
    def _application_properties(request):
        return json_response(200, {"version": "8.19.0", "buildNumber": "8019000",
                                   "buildDate": "1700000000000",
                                   "displayName": "Bitbucket"},
                             [("X-AUSERNAME", USERNAME)])

    # -- web app additions: pull requests and comments (see README.md)

    def _reset_web_locked(self):
        self.pullrequests = default_pullrequests()
        self.comments = []

    def _web_routes(self, request):
        """The methods of a pull request path, or None when it is not one."""
        match = PULLREQUESTS_PATH.fullmatch(request.path)
        if match:
            repo = f"{match['workspace']}/{match['slug']}"
            return {"GET": lambda: self._api(
                request, CLOUD, "pullrequest",
                lambda r: self._pullrequest_page(r, repo))}
        match = COMMENTS_PATH.fullmatch(request.path)
        if match:
            repo = f"{match['workspace']}/{match['slug']}"
            number = int(match["id"])
            return {"POST": lambda: self._api(
                request, CLOUD, "pullrequest:write",
                lambda r: self._post_comment(r, repo, number))}
        return None

    def _pullrequests_of(self, repo):
        pulls = self.pullrequests.get(repo)
        if pulls is None:
            raise api_error(CLOUD, 404, f"Repository {repo} not found")
        return pulls

    def _pullrequest_page(self, request, repo):
        """GET .../pullrequests: ?state= (repeatable, default OPEN), page, pagelen."""
        pulls = self._pullrequests_of(repo)
        query = urllib.parse.parse_qs(request.query)
        states = [s.upper() for s in query.get("state", ["OPEN"])]
        if any(s not in PULLREQUEST_STATES for s in states):
            raise api_error(CLOUD, 400, "Invalid state; one of " + ", ".join(PULLREQUEST_STATES))
        try:
            page = int(query.get("page", ["1"])[0])
            pagelen = int(query.get("pagelen", ["10"])[0])
        except ValueError:
            page = pagelen = 0
        if page < 1 or not 1 <= pagelen <= 50:
            raise api_error(CLOUD, 400, "Invalid page or pagelen")
        chosen = [p for p in pulls if p["state"] in states]
        first = (page - 1) * pagelen
        if first >= len(chosen) and page > 1:
            raise api_error(CLOUD, 404, "Invalid page")

        def link(number):   # absolute, on the host the client used
            return f"{request.base_url}{request.path}?" + urllib.parse.urlencode(
                [("state", s) for s in states] + [("page", number), ("pagelen", pagelen)])

        body = {"pagelen": pagelen, "page": page, "size": len(chosen),
                "values": [pullrequest_json(repo, p) for p in chosen[first:first + pagelen]]}
        if page > 1:
            body["previous"] = link(page - 1)
        if first + pagelen < len(chosen):
            body["next"] = link(page + 1)
        return json_response(200, body)

    def _post_comment(self, request, repo, number):
        """POST .../pullrequests/{id}/comments with {"content": {"raw": text}}."""
        pull = next((p for p in self._pullrequests_of(repo) if p["id"] == number), None)
        if pull is None:
            raise api_error(CLOUD, 404, f"Pull request {number} not found")
        try:
            if media_type(request.headers.get("Content-Type")) != "application/json":
                raise ValueError
            raw = json.loads(request.body)["content"]["raw"]
            if not isinstance(raw, str) or not raw.strip():
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise api_error(CLOUD, 400, 'Send JSON {"content": {"raw": "text"}}') from None
        comment = {"id": 1000 + len(self.comments) + 1, "repo": repo,
                   "pullrequest": number, "raw": raw, "user": USERNAME}
        self.comments.append(comment)
        pull["comment_count"] = pull.get("comment_count", 0) + 1
        href = f"{request.base_url}{request.path.rstrip('/')}/{comment['id']}"
        return json_response(201, {
            "type": "pullrequest_comment", "id": comment["id"],
            "content": {"raw": raw, "markup": "markdown", "html": ""},
            "user": {"type": "user", "username": USERNAME, "display_name": "Bbo Tester"},
            "pullrequest": {"type": "pullrequest", "id": number},
            "links": {"self": {"href": href}}}, [("Location", href)])

    def consent(self, request):
        """POST to authorize: the consent form's answer (Grant access or Cancel)."""
        try:
            form = single_valued(urllib.parse.parse_qsl(
                request.body.decode("ascii"), keep_blank_values=True))
        except ValueError as e:
            return text_response(400, f"Malformed consent form: {e}")
        decision = form.get("decision")
        if decision not in ("grant", "cancel") or "request" not in form:
            return text_response(400, "Malformed consent form: decision and request needed")
        return self.authorize(AUTHORIZE_PATHS[request.path], form["request"], decision)

    def posted_comments(self, _payload):
        """GET /comments (control): every comment posted, oldest first."""
        with self.lock:
            return {"comments": [dict(c) for c in self.comments]}

    def set_pullrequests(self, payload):
        """POST /pullrequests (control): {"repo": "ws/slug", "pullrequests":
        [{"title", "state" (default OPEN), "author"}]} replaces a repository's."""
        repo = _expect("repo", payload.get("repo"), str)
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise BadControlRequest("repo must be WORKSPACE/SLUG")
        pulls = []
        for n, item in enumerate(_expect("pullrequests", payload.get("pullrequests"), list), 1):
            if not isinstance(item, dict):
                raise BadControlRequest("each pull request must be an object")
            state = item.get("state", "OPEN")
            if state not in PULLREQUEST_STATES:
                raise BadControlRequest(f"bad state: {state!r}")
            pulls.append({"id": n, "title": _expect("title", item.get("title"), str),
                          "state": state,
                          "author": _expect("author", item.get("author", "Bbo Tester"), str)})
        with self.lock:
            self.pullrequests[repo] = pulls
        return {"ok": True, "count": len(pulls)}

    # -- faults and control API

    def count(self, counter):
        with self.lock:
            self.counters[counter] += 1

    def idle_close_ms(self):
        with self.lock:
            return self.config.idle_close_ms

    def take_fault(self, path):
        """The first armed fault matching `path`, used up by one hit, or None."""
        with self.lock:
            for fault in self.faults:
                if fault.path is None or fault.path in path:
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    self.counters["faults_hit"] += 1
                    return fault
        return None

    def stats(self, _payload):
        with self.lock:
            stats = dict(self.counters)
            stats["grants"] = dict(self.grant_counts)
            stats["last_token_request"] = self.last_token_request
            return stats

    def configure(self, payload):
        """POST /config: validate everything first, then apply it at once."""
        with self.lock:
            config = dataclasses.replace(self.config)
            for key, value in payload.items():
                if key in ("legacy_scopes", "deny", "consent"):
                    _expect(key, value, bool)
                elif key in ("access_ttl", "token_length"):
                    _expect(key, value, int, minimum=1)
                elif key == "idle_close_ms":
                    if value is not None:
                        _expect(key, value, int, minimum=0)
                elif key == "consumer":
                    value = _consumer_with(config.consumer, value)
                else:
                    raise BadControlRequest(f"unknown config key: {key}")
                setattr(config, key, value)
            self.config = config
        return {"ok": True}

    def add_fault(self, payload):
        unknown = set(payload) - {f.name for f in dataclasses.fields(Fault)}
        if unknown:
            raise BadControlRequest(f"unknown fault parameters: {', '.join(sorted(unknown))}")
        fault = Fault(_expect("name", payload.get("name"), str))
        if fault.name not in FAULTS:
            raise BadControlRequest(f"unknown fault {fault.name}; one of {', '.join(FAULTS)}")
        if payload.get("path") is not None:
            fault.path = _expect("path", payload["path"], str)
        if "times" in payload:
            fault.times = _expect("times", payload["times"], int, minimum=-1)
            if fault.times == 0:
                raise BadControlRequest("times must be -1 or at least 1")
        if "seconds" in payload:
            fault.seconds = _expect("seconds", payload["seconds"], (int, float), minimum=0)
        if payload.get("retry_after") is not None:
            fault.retry_after = _expect("retry_after", payload["retry_after"], int, minimum=0)
        if "redirect_to" in payload:
            fault.redirect_to = _expect("redirect_to", payload["redirect_to"], str)
        with self.lock:
            self.faults.append(fault)
        return {"ok": True}

    def clear_faults(self, _payload):
        with self.lock:
            self.faults.clear()
        return {"ok": True}

    def expire_tokens(self, _payload):
        now = time.time()
        with self.lock:
            live = [t for t in self.access_tokens.values() if t.expires_at > now]
            for token in live:
                token.expires_at = now
        return {"expired": len(live)}

    def reset(self, _payload):
        with self.lock:
            self._reset_locked()
        return {"ok": True}

    def authorize_url(self, payload):
        """POST /authorize: visit an authorization URL as the user's browser."""
        url = urllib.parse.urlsplit(_expect("url", payload.get("url"), str))
        if url.path not in AUTHORIZE_PATHS:
            raise BadControlRequest(f"not an authorization endpoint: {url.path}")
        decision = payload.get("decision")
        if decision not in (None, "grant", "cancel"):
            raise BadControlRequest("decision must be grant or cancel")
        response = self.authorize(AUTHORIZE_PATHS[url.path], url.query, decision)
        result = {"status": response.status,
                  "location": dict(response.headers).get("Location")}
        if result["location"] is None:
            result.update(json.loads(response.body))
        return result


# ------------------------------------------- web app additions (helpers)

PULLREQUESTS_PATH = re.compile(
    r"/2\.0/repositories/(?P<workspace>[^/]+)/(?P<slug>[^/]+)/pullrequests/?")
COMMENTS_PATH = re.compile(
    r"/2\.0/repositories/(?P<workspace>[^/]+)/(?P<slug>[^/]+)"
    r"/pullrequests/(?P<id>[0-9]{1,9})/comments/?")
PULLREQUEST_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")
# What Bitbucket's consent page and consumer form call each scope.
PERMISSION_NAMES = {
    "email": "Account: Email", "account": "Account: Read",
    "account:write": "Account: Write", "team": "Workspace membership: Read",
    "team:write": "Workspace membership: Write", "project": "Projects: Read",
    "project:admin": "Projects: Admin", "project:write": "Projects: Write",
    "repository": "Repositories: Read", "repository:write": "Repositories: Write",
    "repository:admin": "Repositories: Admin", "repository:delete": "Repositories: Delete",
    "pullrequest": "Pull requests: Read", "pullrequest:write": "Pull requests: Write",
    "issue": "Issues: Read", "issue:write": "Issues: Write", "wiki": "Wikis: Read and write",
    "snippet": "Snippets: Read", "snippet:write": "Snippets: Write",
    "webhook": "Webhooks: Read and write", "pipeline": "Pipelines: Read",
    "pipeline:write": "Pipelines: Write", "pipeline:variable": "Pipelines: Edit variables",
    "runner": "Runners: Read", "runner:write": "Runners: Write",
}


def default_pullrequests():
    """bbo-tester/repo-01: 25 pull requests, 23 open (3 pages of 10); one
    title full of HTML; repo-02: 2 open; the other repositories: none."""
    repo01 = []
    for n in range(1, 26):
        title = f"Pull request {n}"
        if n == 3:
            title = 'Escape <b>this</b> & "that" <script>alert(1)</script>'
        state = {24: "MERGED", 25: "DECLINED"}.get(n, "OPEN")
        repo01.append({"id": n, "title": title, "state": state,
                       "author": "Ann O'Tator" if n % 2 else "Bbo Tester"})
    pulls = {f"{USERNAME}/repo-{n:02d}": [] for n in range(3, REPO_COUNT + 1)}
    pulls[f"{USERNAME}/repo-01"] = repo01
    pulls[f"{USERNAME}/repo-02"] = [
        {"id": n, "title": f"Second repository, change {n}", "state": "OPEN",
         "author": "Bbo Tester"} for n in (1, 2)]
    return pulls


def pullrequest_json(repo, pull):
    page = f"https://bitbucket.org/{repo}/pull-requests/{pull['id']}"
    return {"type": "pullrequest", "id": pull["id"], "title": pull["title"],
            "state": pull["state"], "comment_count": pull.get("comment_count", 0),
            "author": {"type": "user", "display_name": pull["author"]},
            "source": {"branch": {"name": f"feature/{pull['id']}"}},
            "destination": {"branch": {"name": "main"}},
            "links": {"html": {"href": page}}}


def consent_page(flavor, params, consumer, scopes):
    """The consent form a real browser can use: Grant access or Cancel.

    The form carries the authorization request back verbatim; the POST is
    checked exactly as the GET was before anything is issued.
    """
    esc = html.escape
    request = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    path = next(p for p, f in AUTHORIZE_PATHS.items() if f == flavor)
    items = "".join(f'<li class="permission">{esc(PERMISSION_NAMES.get(s, s))}</li>'
                    for s in scopes) or "<li>(none)</li>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize access - bbmock</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:3em auto;color:#172b4d}}
button{{font-size:1em;padding:.4em 1em;margin-right:.5em}}#grant{{background:#0052cc;color:#fff;border:0}}</style>
</head><body>
<h1 id="consent">Authorize <span id="client">{esc(consumer.key)}</span></h1>
<p>This application (a mock Bitbucket consumer) would like to access your account
<strong>{esc(USERNAME)}</strong> with these permissions:</p>
<ul id="permissions">{items}</ul>
<form method="post" action="{esc(path)}">
<input type="hidden" name="request" value="{esc(request)}">
<button type="submit" id="grant" name="decision" value="grant">Grant access</button>
<button type="submit" id="cancel" name="decision" value="cancel">Cancel</button>
</form></body></html>
"""
    return Response(200, page.encode(), "text/html; charset=utf-8",
                    [("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")])


def _expect(key, value, types, minimum=None):
    """`value` if it has one of `types` (bool is no int here) and is >= minimum."""
    if isinstance(value, bool) and types is not bool or not isinstance(value, types) \
            or (minimum is not None and value < minimum):
        raise BadControlRequest(f"bad value for {key}: {value!r}")
    return value


def _consumer_with(consumer, changes):
    """A copy of `consumer` with the validated `changes` of POST /config."""
    if not isinstance(changes, dict):
        raise BadControlRequest("consumer must be an object")
    consumer = dataclasses.replace(consumer)
    for key, value in changes.items():
        if key in ("key", "secret", "jwt_secret"):
            _expect(key, value, str)
        elif key == "callback_url":
            if value is not None:
                _expect(key, value, str)
        elif key == "scopes":
            if isinstance(value, str):
                value = split_scopes(value)
            elif not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
                raise BadControlRequest("scopes must be a string or a list of strings")
            value = tuple(value)
        elif key == "private":
            _expect(key, value, bool)
        else:
            raise BadControlRequest(f"unknown consumer key: {key}")
        setattr(consumer, key, value)
    return consumer


# ------------------------------------------------------------ HTTP layer

class BaseHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every answer carries Content-Length."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT      # socket timeout: idle connections and stalled requests
    # Head and body go out in separate writes: without TCP_NODELAY, Nagle
    # and the client's delayed ACK would add 40 ms to every answer.
    disable_nagle_algorithm = True

    def version_string(self):
        return "bbmock"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        """Silenced: the base class logs request lines, which carry codes."""

    def log_request(self, code="-", size="-"):
        # Only method and path: the query may hold a code or a state.
        path = urllib.parse.urlsplit(self.path).path if self.command else "-"
        log(f"{self.server.label} {self.command or '(malformed request)'} {path} {code}")

    def _read_request(self):
        """The current request with its body, or None once answered here."""
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, "Send a Content-Length, not Transfer-Encoding")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(400, "Bad Content-Length")
        if length > MAX_BODY:
            return self._refuse(413, "Request body too large")
        body = self.rfile.read(length)
        if len(body) != length:         # the client went away mid-body
            self.close_connection = True
            return None
        url = urllib.parse.urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        return Request(self.command, url.path, url.query, self.headers, body,
                       f"{self.server.scheme}://{host}")

    def _refuse(self, status, message):
        self.close_connection = True    # the rest of the stream is not trusted
        self._send(text_response(status, message))

    def _send_head(self, response, length):
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, response):
        self._send_head(response, len(response.body))
        self.wfile.write(response.body)


class ApiHandler(BaseHandler):
    """The Bitbucket ports: main (TLS), wrong certificate (TLS), plain."""

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            # The handshake runs here, in the connection's own thread, not
            # in the accepting one; a client that rejects our certificate
            # (the "wrong host" test) ends the connection here, quietly.
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and self._next_request_arrives():
            self.handle_one_request()

    def _next_request_arrives(self):
        """Wait for the next keep-alive request, up to idle_close_ms if set.

        Returns False if it does not start in time or the client closed, and
        the connection is then closed with no "Connection: close" warning,
        as a server or proxy dropping idle connections does.
        """
        idle_ms = self.server.mock.idle_close_ms()
        self.connection.settimeout(IDLE_TIMEOUT if idle_ms is None else idle_ms / 1000)
        try:
            arrived = bool(self.rfile.peek(1))
        except OSError:                 # TimeoutError included
            return False
        self.connection.settimeout(self.timeout)
        return arrived

    def do_GET(self):
        request = self._read_request()
        if request is None:
            return
        mock = self.server.mock
        fault = mock.take_fault(request.path)
        if fault is None:
            self._send(mock.handle(request))
            return
        log(f"{self.server.label} fault {fault.name} on {request.method} {request.path}")
        if fault.name == "slow":
            if self.server.stopping.wait(fault.seconds):
                self.close_connection = True
            else:
                self._send(mock.handle(request))
        elif fault.name == "reset":
            mock.count("resets")
            self._reset_connection()
        elif fault.name == "reset_after_processing":
            mock.handle(request)
            self._reset_connection()
        elif fault.name == "truncated":
            # The request is processed (a token is issued) and the real
            # answer announced in full, but only half of its body arrives.
            response = mock.handle(request)
            self._send_head(response, len(response.body))
            self.wfile.write(response.body[:len(response.body) // 2])
            self.close_connection = True
        elif fault.name == "huge":
            self._send_huge()
        else:
            self._send(canned_fault_response(fault))

    do_POST = do_GET

    def _reset_connection(self):
        """Abort with a TCP RST: SO_LINGER {1, 0}, and no TLS close_notify."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.rfile.close()      # it holds a reference that would delay the close
        self.connection.close()

    def _send_huge(self):
        """A 10 MiB JSON object, streamed: the client should stop at its cap."""
        prefix, suffix = b'{"access_token":"', b'"}'
        self._send_head(Response(200, content_type="application/json"), HUGE_SIZE)
        self.wfile.write(prefix)
        filler = memoryview(b"A" * HUGE_CHUNK)
        remaining = HUGE_SIZE - len(prefix) - len(suffix)
        while remaining:
            n = min(remaining, HUGE_CHUNK)
            self.wfile.write(filler[:n])
            remaining -= n
        self.wfile.write(suffix)


def canned_fault_response(fault):
    """The answer of a fault that replaces the request's processing."""
    retry = [] if fault.retry_after is None else [("Retry-After", str(fault.retry_after))]
    if fault.name == "html502":
        return text_response(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                             "text/html")
    if fault.name == "error200":
        return json_response(200, {"error": "invalid_grant",
                                   "error_description": "Injected error with status 200"})
    if fault.name == "rate429":
        return text_response(429, "Rate limit for this resource has been exceeded",
                             headers=retry)
    if fault.name == "unavailable503":
        return text_response(503, "Service temporarily unavailable", headers=retry)
    assert fault.name == "redirect", fault.name
    return Response(302, headers=[("Location", fault.redirect_to)])


class ControlHandler(BaseHandler):
    """The control API: plain HTTP, JSON in and out, never faulted."""

    ROUTES = {("GET", "/stats"): Bitbucket.stats,
              ("POST", "/config"): Bitbucket.configure,
              ("POST", "/fault"): Bitbucket.add_fault,
              ("POST", "/fault/clear"): Bitbucket.clear_faults,
              ("POST", "/expire"): Bitbucket.expire_tokens,
              ("POST", "/reset"): Bitbucket.reset,
              ("POST", "/authorize"): Bitbucket.authorize_url,
              ("GET", "/comments"): Bitbucket.posted_comments,
              ("POST", "/pullrequests"): Bitbucket.set_pullrequests}

    def do_GET(self):
        request = self._read_request()
        if request is None:
            return
        route = self.ROUTES.get((request.method, request.path))
        if route is None:
            self._send(json_response(404, {"error": f"no such control endpoint: "
                                           f"{request.method} {request.path}"}))
            return
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = None
        try:
            if not isinstance(payload, dict):
                raise BadControlRequest("the body must be a JSON object")
            self._send(json_response(200, route(self.server.mock, payload)))
        except BadControlRequest as e:
            self._send(json_response(400, {"error": str(e)}))

    do_POST = do_GET


class MockServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, label, handler, mock, stopping, context=None, counted=True):
        self.label = label
        self.mock = mock
        self.stopping = stopping        # set at shutdown: cuts "slow" sleeps short
        self.scheme = "https" if context else "http"
        self.counted = counted
        super().__init__(("127.0.0.1", 0), handler)
        if context:
            # No handshake in accept(): ApiHandler.handle does it per thread.
            self.socket = context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the address's FQDN: skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        if self.counted:
            self.mock.count("connections")
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away; expected in tests
            log(f"{self.label}: connection dropped ({type(error).__name__})")
        else:
            super().handle_error(request, client_address)


# ------------------------------------------------------------------- main

def write_atomically(path, text):
    """Readers polling `path` see nothing or all of it, never a part."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True,
                        help="directory for the generated CA and certificates")
    parser.add_argument("--ready-file",
                        help="also write the ready line here (atomically)")
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    try:
        pki = make_certificates(directory)
    except subprocess.CalledProcessError as e:
        log(f"openssl failed: {e}\n{e.stderr.decode(errors='replace')}")
        return 1
    except OSError as e:                # no openssl, or DIR not writable
        log(f"cannot create certificates: {e}")
        return 1

    mock = Bitbucket()
    servers = {
        "port": MockServer("main", ApiHandler, mock, stopping, tls_context(*pki["good"])),
        "wrong_port": MockServer("wrong", ApiHandler, mock, stopping,
                                 tls_context(*pki["wrong"])),
        "plain_port": MockServer("plain", ApiHandler, mock, stopping),
        "control_port": MockServer("control", ControlHandler, mock, stopping,
                                   counted=False),
    }
    for name, server in servers.items():
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         name=name, daemon=True).start()

    ready = {name: server.server_port for name, server in servers.items()}
    ready["ca"] = pki["ca"][0]
    ready["base"] = f"https://127.0.0.1:{ready['port']}"
    line = json.dumps(ready)
    if args.ready_file:
        write_atomically(os.path.abspath(args.ready_file), line + "\n")
    print(line, flush=True)

    stopping.wait()
    # shutdown() waits for its serve_forever loop to notice: wait in parallel.
    stoppers = [threading.Thread(target=server.shutdown) for server in servers.values()]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    for server in servers.values():
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
