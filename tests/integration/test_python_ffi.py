#!/usr/bin/env python3
"""The Python ctypes binding (examples/python/bboauth/__init__.py) against the mock.

Run under tests/mock/with_mock.py (BBMOCK_* variables) with BBOAUTH_LIBRARY
naming the built libbboauth.so and examples/python on PYTHONPATH. Speaks
TAP. The steps share one login and run in order: a failure makes the
steps after it fail too. Never prints a token, code or secret.
"""
import json
import os
import stat
import sys
import tempfile
import threading
import traceback
import urllib.request
from ctypes import CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int, c_size_t, c_uint, \
    c_void_p, string_at

import bboauth
from bboauth import BboError, Code

BASE = os.environ["BBMOCK_BASE"]
CONTROL = os.environ["BBMOCK_CONTROL"]
HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_BROWSER = os.path.join(HERE, "..", "mock", "fake_browser.py")

tests = []
ctx = {}   # objects shared by the steps


def step(fn):
    tests.append(fn)
    return fn


def control(path, body=None):
    req = urllib.request.Request(CONTROL + path, method="GET" if body is None else "POST",
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def grants(kind):
    return control("/stats")["grants"][kind]


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except BboError as e:
        assert e.code == code, f"expected {code!r}, got {e.code!r}: {e.message}"
        return e
    raise AssertionError(f"expected BboError {code!r}, got no error")


@step
def consumer_and_client():
    consumer = bboauth.Consumer(
        os.environ["BBMOCK_KEY"], os.environ["BBMOCK_SECRET"],
        callback_url="http://127.0.0.1/callback",
        endpoints=(BASE + "/site/oauth2/authorize", BASE + "/site/oauth2/access_token",
                   BASE + "/2.0"))
    client = bboauth.Client(consumer)
    consumer.close()   # the client keeps its own copy
    client.set_ca(os.environ["BBMOCK_CA"])
    client.set_proxy("")   # 127.0.0.1 only, whatever the environment says
    client.set_timeouts(5000, 30000)
    ctx["client"] = client
    assert bboauth.version().count(".") == 2


@step
def login_with_loopback_and_browser():
    client = ctx["client"]
    with bboauth.Loopback("http://127.0.0.1/callback") as lb:
        assert lb.port > 0 and lb.redirect_uri == f"http://127.0.0.1:{lb.port}/callback"
        auth = bboauth.Authorization.begin(client, lb.redirect_uri)
        assert auth.url.startswith(BASE + "/site/oauth2/authorize?")
        assert len(auth.state) == 43 and auth.redirect_uri == lb.redirect_uri
        os.environ["BROWSER"] = FAKE_BROWSER   # os.environ also sets the C environment
        # The fake browser prints progress lines; keep them out of the TAP stream.
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            launch = lb.launch_url(auth)
            assert auth.state not in launch and launch.startswith(f"http://127.0.0.1:{lb.port}/")
            bboauth.browser_open(launch)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        code = lb.wait(auth, 30000)
    assert isinstance(code, str) and code
    ctx["auth"], ctx["code"] = auth, code


@step
def exchange_code():
    before = grants("authorization_code")
    token = ctx["client"].exchange_code(ctx["auth"], ctx["code"])
    assert grants("authorization_code") == before + 1
    assert token.access and token.refresh and token.type == "bearer"
    assert token.expires_at > token.obtained_at > 0 and not token.is_expired(margin_s=60)
    assert token.scopes == ["account", "pullrequest:write", "repository:write"], token.scopes
    again = bboauth.Token.parse(token.to_json())
    assert again.access == token.access and again.expires_at == token.expires_at
    ctx["token"] = token


@step
def session_with_file_store():
    ctx["dir"] = tempfile.TemporaryDirectory(prefix="bbo-ffi-")
    path = ctx["path"] = os.path.join(ctx["dir"].name, "token")
    store = bboauth.FileStore(path)
    session = bboauth.Session(ctx["client"], ctx["token"], store)
    ctx["session"] = session
    try:
        store.ptr
        raise AssertionError("the store should belong to the session")
    except ValueError:
        pass
    assert ctx["token"].access   # the session took a copy, not ours
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with bboauth.FileStore(path) as reader:
        assert reader.load().access == ctx["token"].access


@step
def access_token():
    assert ctx["session"].access_token() == ctx["token"].access   # not due: no refresh


@step
def user():
    assert ctx["session"].user() == "bbo-tester"


@step
def request_get_user():
    with ctx["session"].request("GET", "/user") as resp:
        assert resp.status == 200, resp.status
        assert resp.header("content-type").startswith("application/json")
        assert resp.header("X-OAuth-Scopes") is not None
        assert resp.header("X-No-Such-Header") is None
        assert resp.json()["username"] == "bbo-tester"
    try:
        resp.header("content-type")
        raise AssertionError("a closed response must refuse header()")
    except ValueError:
        pass
    with ctx["session"].request("GET", "/no/such/thing") as resp:
        assert resp.status == 404   # an answer, not an error


@step
def forced_refresh_fires_on_token_once():
    session, events = ctx["session"], []
    session.on_token(lambda token, save_error: events.append((token, save_error)))
    ctx["events"] = events
    old = session.token()
    before = grants("refresh_token")
    session.refresh()
    assert grants("refresh_token") == before + 1
    assert len(events) == 1, len(events)
    new, save_error = events[0]
    assert save_error == 0
    assert new.access != old.access and new.refresh != old.refresh   # rotated
    assert session.access_token() == new.access
    with bboauth.FileStore(ctx["path"]) as reader:
        assert reader.load().access == new.access   # saved before handed out
    assert len(events) == 1


@step
def foreach_page_25_repositories():
    session, pages, names = ctx["session"], [], []

    def on_page(page):
        assert page.status == 200 and page.header("Content-Type")
        pages.append(page)
        names.extend(v["name"] for v in json.loads(page.body)["values"])
    session.foreach_page("/repositories/bbo-tester?pagelen=10", on_page)
    assert len(pages) == 3 and len(names) == 25 and len(set(names)) == 25, (len(pages),
                                                                           len(names))
    try:
        pages[0].header("Content-Type")   # borrowed: only valid inside the callback
        raise AssertionError("a page must refuse header() after its callback")
    except ValueError:
        pass
    seen = []
    expect_error(Code.EUSER, session.foreach_page, "/repositories/bbo-tester?pagelen=10",
                 lambda page: seen.append(page) or False)
    assert len(seen) == 1

    def boom(page):
        raise KeyError("from the callback")
    try:
        session.foreach_page("/repositories/bbo-tester?pagelen=10", boom)
        raise AssertionError("the callback's exception must come through")
    except KeyError:
        pass


@step
def concurrent_requests_share_one_refresh():
    session, events = ctx["session"], ctx["events"]
    before, count = grants("refresh_token"), len(events)
    assert control("/expire", {})["expired"] >= 1   # the server now says 401
    # a slow token answer keeps the refresh in flight while the others get 401
    control("/fault", {"name": "slow", "path": "/access_token", "seconds": 1})
    statuses, errors, start = [], [], threading.Barrier(6)

    def worker():
        try:
            start.wait(30)   # all at once: the GIL is released inside the calls
            with session.request("GET", "/user") as resp:
                statuses.append(resp.status)
        except BaseException as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert statuses == [200] * 6, statuses
    assert grants("refresh_token") == before + 1   # single flight across threads
    assert len(events) == count + 1


@step
def errors_state_mismatch():
    auth = bboauth.Authorization.begin(ctx["client"])
    e = expect_error(Code.ESTATE, auth.complete,
                     "http://127.0.0.1/callback?code=abc&state=not-the-state")
    assert e.code == -9 and e.http_status == 0 and e.message
    assert e.oauth_code is None and e.retry_after == -1


@step
def errors_foreign_host():
    e = expect_error(Code.EINVAL, ctx["session"].request, "GET", "https://evil.invalid/2.0/user")
    assert "evil.invalid" in e.message


@step
def errors_oauth_fields():
    e = expect_error(Code.EOAUTH, ctx["client"].exchange_code, ctx["auth"], "no-such-code")
    assert e.oauth_code == "invalid_grant" and e.http_status == 400, (e.oauth_code,
                                                                     e.http_status)
    assert e.description


@step
def errors_are_per_thread():
    expect_error(Code.EINVAL, ctx["session"].request, "GET", "https://evil.invalid/")
    other = []
    t = threading.Thread(target=lambda: other.append(
        expect_error(Code.ESTATE, bboauth.Authorization.begin(ctx["client"]).complete,
                     "?code=a&state=b")))
    t.start()
    t.join()
    assert other and other[0].code == Code.ESTATE
    # this thread's last error is still its own
    assert bboauth.lib.bbo_error_code(bboauth.lib.bbo_error_last()) == Code.EINVAL


# The transport sketch of docs/ffi.md, answering the token endpoint from Python.
class Transport(Structure):
    SEND = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)
    DESTROY = CFUNCTYPE(None, c_void_p)
    _fields_ = [("version", c_uint), ("send", SEND), ("destroy", DESTROY),
                ("payload", c_void_p)]


@step
def python_transport():
    lib = bboauth.lib
    lib.bbo_client_set_transport.argtypes = [c_void_p, POINTER(Transport)]
    lib.bbo_http_request_method.restype = c_char_p
    lib.bbo_http_request_method.argtypes = [c_void_p]
    lib.bbo_http_request_url.restype = c_char_p
    lib.bbo_http_request_url.argtypes = [c_void_p]
    lib.bbo_http_request_body.restype = c_void_p
    lib.bbo_http_request_body.argtypes = [c_void_p, POINTER(c_size_t)]
    lib.bbo_http_response_set_status.argtypes = [c_void_p, c_int]
    lib.bbo_http_response_add_header.argtypes = [c_void_p, c_char_p, c_char_p]
    lib.bbo_http_response_append_body.argtypes = [c_void_p, c_char_p, c_size_t]
    seen, destroyed = [], []

    def send(req, resp, _payload):
        try:
            n = c_size_t()
            form = string_at(lib.bbo_http_request_body(req, byref(n)), n.value)
            seen.append((lib.bbo_http_request_method(req), lib.bbo_http_request_url(req),
                         b"grant_type=client_credentials" in form))
            body = b'{"access_token":"from-python","token_type":"bearer","expires_in":60}'
            if (lib.bbo_http_response_set_status(resp, 200) < 0 or
                    lib.bbo_http_response_add_header(resp, b"Content-Type",
                                                     b"application/json") < 0 or
                    lib.bbo_http_response_append_body(resp, body, len(body)) < 0):
                return Code.EPROTOCOL
            return 0
        except BaseException:   # never let an exception unwind into C
            return Code.EUSER
    table = Transport(1, Transport.SEND(send), Transport.DESTROY(destroyed.append), None)
    consumer = bboauth.Consumer("key", "secret", endpoints=(
        None, "https://127.0.0.1:1/token", None))
    with bboauth.Client(consumer) as client:
        bboauth._check(lib.bbo_client_set_transport(client.ptr, byref(table)))
        with client.client_credentials() as token:
            assert token.access == "from-python" and token.refresh is None
    assert seen == [(b"POST", b"https://127.0.0.1:1/token", True)], seen
    assert destroyed == [None]   # called once, by bbo_client_free
    consumer.close()


@step
def logout():
    session = ctx["session"]
    session.logout()
    assert not os.path.exists(ctx["path"])
    expect_error(Code.EEXPIRED, session.access_token)
    session.close()
    session.close()   # idempotent
    ctx["client"].close()
    ctx["dir"].cleanup()


def main():
    print(f"1..{len(tests)}", flush=True)
    failed = 0
    for number, fn in enumerate(tests, 1):
        name = fn.__name__.replace("_", " ")
        try:
            fn()
            print(f"ok {number} - {name}", flush=True)
        except BaseException:
            failed += 1
            print(f"not ok {number} - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
