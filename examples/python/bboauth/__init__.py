"""bboauth from Python: a ctypes binding of libbboauth (standard library only).

SPDX-License-Identifier: MIT (examples may be copied freely)

    import bboauth
    consumer = bboauth.Consumer(KEY, SECRET)
    with bboauth.Client(consumer) as client, bboauth.Loopback() as lb:
        auth = bboauth.Authorization.begin(consumer, lb.redirect_uri)
        bboauth.browser_open(lb.launch_url(auth))   # never auth.url: argv is public
        token = client.exchange_code(auth, lb.wait(auth, 300000))
        with bboauth.Session(client, token, bboauth.FileStore(PATH)) as s:
            print(s.user(), s.request("GET", "/user").status)

The library is loaded from $BBOAUTH_LIBRARY (a path) when set, else as
"libbboauth.so.0" through the system loader (LD_LIBRARY_PATH,
/etc/ld.so.cache, the standard directories), else from
ctypes.util.find_library("bboauth").

Ownership: every class owns one C object and frees it in close(), on
leaving a `with` block, or when garbage-collected. Strings the library
returns through `char **` are copied into Python and released with bbo_free
(which wipes them); Python's own copies of tokens cannot be wiped, so keep
them short-lived.

Errors: a failing call raises BboError, read from bbo_error_last() on the
same thread right after the call (the C error is per OS thread, and one
Python thread is one OS thread).

Threads: ctypes releases the GIL during every foreign call, so blocking
calls (Loopback.wait, Session.request, refreshes) let other Python threads
run. The thread rules are the C library's; each class says its own. Never
close an object while another thread is using it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import json
import os
import time
from ctypes import (CFUNCTYPE, POINTER, byref, c_char_p, c_int, c_int64, c_size_t,
                    c_void_p, string_at)
from typing import Any, Callable, Iterable, List, Optional, Tuple, TypeVar, Union

StrOrBytes = Union[str, bytes]
PathLike = Union[str, bytes, os.PathLike]

__all__ = ["Code", "BboError", "Consumer", "Client", "Authorization", "Loopback", "Token",
           "FileStore", "Session", "Response", "browser_open", "version", "lib"]


SONAME = "libbboauth.so.0"


def _load() -> ctypes.CDLL:
    # CDLL, not PyDLL: calls release the GIL
    path = os.environ.get("BBOAUTH_LIBRARY")
    if path:
        return ctypes.CDLL(path)
    try:  # the loader's own search: LD_LIBRARY_PATH, ld.so.cache, /usr/lib, ...
        return ctypes.CDLL(SONAME)
    except OSError as e:
        found = ctypes.util.find_library("bboauth")
        if found:
            return ctypes.CDLL(found)
        raise OSError(f"bboauth: cannot load {SONAME} ({e}); install libbboauth, add its "
                      "directory to LD_LIBRARY_PATH, or set BBOAUTH_LIBRARY to its path") from e


lib = _load()

# Opaque objects travel as c_void_p; `char **` outs as POINTER(c_void_p) so that
# ctypes does not copy-and-drop the pointer: we copy the text, then bbo_free it.
_P, _PP, _S = c_void_p, POINTER(c_void_p), c_char_p
TOKEN_CB = CFUNCTYPE(None, c_void_p, c_int, c_void_p)   # bbo_token_cb
PAGE_CB = CFUNCTYPE(c_int, c_void_p, c_void_p)          # bbo_page_cb

_SIGNATURES = {
    # name: (restype, argtypes)
    "bbo_free": (None, [_P]),
    "bbo_version": (_S, []),
    "bbo_strerror": (_S, [c_int]),
    "bbo_error_last": (_P, []),
    "bbo_error_code": (c_int, [_P]),
    "bbo_error_http_status": (c_int, [_P]),
    "bbo_error_message": (_S, [_P]),
    "bbo_error_oauth_code": (_S, [_P]),
    "bbo_error_description": (_S, [_P]),
    "bbo_error_retry_after": (c_int64, [_P]),
    "bbo_scopes_parse": (c_int, [_PP, _S]),
    "bbo_scopes_to_string": (c_int, [_P, _PP]),
    "bbo_scopes_free": (None, [_P]),
    "bbo_consumer_new": (c_int, [_PP, _S, _S]),
    "bbo_consumer_set_callback_url": (c_int, [_P, _S]),
    "bbo_consumer_set_scopes": (c_int, [_P, _P]),
    "bbo_consumer_use_data_center": (c_int, [_P, _S]),
    "bbo_consumer_set_endpoints": (c_int, [_P, _S, _S, _S]),
    "bbo_consumer_set_client_auth": (c_int, [_P, c_int]),  # enum: an int in the ABI
    "bbo_consumer_free": (None, [_P]),
    "bbo_authorization_begin": (c_int, [_PP, _P]),
    "bbo_authorization_begin_ex": (c_int, [_PP, _P, _S, c_int]),
    "bbo_authorization_url": (_S, [_P]),
    "bbo_authorization_state": (_S, [_P]),
    "bbo_authorization_redirect_uri": (_S, [_P]),
    "bbo_authorization_complete": (c_int, [_P, _S, _PP]),
    "bbo_authorization_free": (None, [_P]),
    "bbo_token_parse": (c_int, [_PP, _S, c_size_t, c_int64]),
    "bbo_token_dup": (c_int, [_PP, _P]),
    "bbo_token_to_json": (c_int, [_P, _PP]),
    "bbo_token_access": (_S, [_P]),
    "bbo_token_refresh": (_S, [_P]),
    "bbo_token_type": (_S, [_P]),
    "bbo_token_expires_at": (c_int64, [_P]),
    "bbo_token_obtained_at": (c_int64, [_P]),
    "bbo_token_scopes": (_P, [_P]),
    "bbo_token_is_expired": (c_int, [_P, c_int64, c_int64]),
    "bbo_token_free": (None, [_P]),
    "bbo_client_new": (c_int, [_PP, _P]),
    "bbo_client_consumer": (_P, [_P]),
    "bbo_client_set_timeouts": (c_int, [_P, c_int, c_int]),
    "bbo_client_set_ca": (c_int, [_P, _S, _S]),
    "bbo_client_set_proxy": (c_int, [_P, _S]),
    "bbo_client_set_retry": (c_int, [_P, c_int, c_int]),
    "bbo_client_exchange_code": (c_int, [_P, _P, _S, _PP]),
    "bbo_client_refresh": (c_int, [_P, _P, _PP]),
    "bbo_client_client_credentials": (c_int, [_P, _PP]),
    "bbo_client_free": (None, [_P]),
    "bbo_loopback_new": (c_int, [_PP, _S]),
    "bbo_loopback_redirect_uri": (_S, [_P]),
    "bbo_loopback_port": (c_int, [_P]),
    "bbo_loopback_wait": (c_int, [_P, _P, c_int, _PP]),
    "bbo_loopback_launch_url": (c_int, [_P, _P, _PP]),
    "bbo_loopback_free": (None, [_P]),
    "bbo_browser_open": (c_int, [_S]),
    "bbo_file_store_new": (c_int, [_PP, _S, _S]),
    "bbo_store_load": (c_int, [_P, _PP]),
    "bbo_store_save": (c_int, [_P, _P]),
    "bbo_store_clear": (c_int, [_P]),
    "bbo_store_free": (None, [_P]),
    "bbo_session_new": (c_int, [_PP, _P, _P]),
    "bbo_session_set_store": (c_int, [_P, _P]),
    "bbo_session_on_token": (c_int, [_P, TOKEN_CB, _P]),
    "bbo_session_set_refresh_margin": (c_int, [_P, c_int64]),
    "bbo_session_access_token": (c_int, [_P, _PP]),
    "bbo_session_refresh": (c_int, [_P]),
    "bbo_session_token": (c_int, [_P, _PP]),
    "bbo_session_set_token": (c_int, [_P, _P]),
    "bbo_session_logout": (c_int, [_P]),
    "bbo_session_request": (c_int, [_P, _S, _S, _S, c_size_t, _PP]),
    "bbo_session_foreach_page": (c_int, [_P, _S, c_int, PAGE_CB, _P]),
    "bbo_session_user": (c_int, [_P, _PP]),
    "bbo_session_free": (None, [_P]),
    "bbo_session_save_error": (c_int, [_P]),
    "bbo_response_status": (c_int, [_P]),
    "bbo_response_header": (_S, [_P, _S]),
    "bbo_response_body": (c_void_p, [_P, POINTER(c_size_t)]),  # may hold NULs: not c_char_p
    "bbo_response_free": (None, [_P]),
}
for _name, (_res, _args) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args


class Code(enum.IntEnum):
    """bbo_code: appended, never renumbered (errors.h)."""
    OK = 0
    EINVAL = -1
    ENOMEM = -2
    ETRANSPORT = -3
    ETLS = -4
    ETIMEOUT = -5
    EHTTP = -6
    EPROTOCOL = -7
    EOAUTH = -8
    ESTATE = -9
    EDENIED = -10
    EEXPIRED = -11
    ESCOPE = -12
    EIO = -13
    ECRYPTO = -14
    ERATELIMIT = -15
    EUSER = -16
    EBUSY = -17
    ECONFLICT = -18


class BboError(Exception):
    """A failed bbo_ call: the fields of bbo_error_last() (never secrets)."""

    code: Union[Code, int]
    message: Optional[str]
    oauth_code: Optional[str]
    description: Optional[str]
    http_status: int
    retry_after: int

    def __init__(self, code: int, message: Optional[str], oauth_code: Optional[str] = None,
                 description: Optional[str] = None, http_status: int = 0,
                 retry_after: int = -1) -> None:
        try:
            code = Code(code)
        except ValueError:  # a code newer than this binding
            pass
        super().__init__(f"{message} ({_text(lib.bbo_strerror(code))})")
        self.code, self.message = code, message
        self.oauth_code, self.description = oauth_code, description
        self.http_status, self.retry_after = http_status, retry_after


def _text(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "replace")


def _b(s: Optional[StrOrBytes]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _error(rc: int) -> BboError:
    # Must run on the failing call's thread before any other bbo_ call on it.
    e = lib.bbo_error_last()
    code = lib.bbo_error_code(e)
    return BboError(code if code else rc, _text(lib.bbo_error_message(e)),
                    _text(lib.bbo_error_oauth_code(e)), _text(lib.bbo_error_description(e)),
                    lib.bbo_error_http_status(e), lib.bbo_error_retry_after(e))


def _check(rc: int) -> int:
    if rc < 0:
        raise _error(rc)
    return rc


def _take_string(p: c_void_p) -> Optional[str]:
    """Copy a `char **` out into a str, then bbo_free (which wipes) the C copy."""
    if not p.value:
        return None
    try:
        return string_at(p.value).decode("utf-8")
    finally:
        lib.bbo_free(p)


def _out_string(fn: Any, *args: Any) -> Optional[str]:
    p = c_void_p()
    _check(fn(*args, byref(p)))
    return _take_string(p)


def _now() -> int:
    return int(time.time())


def version() -> str:
    return _text(lib.bbo_version()) or ""


def browser_open(url: StrOrBytes) -> None:
    """Open url with $BROWSER or xdg-open, without waiting (bbo_browser_open)."""
    _check(lib.bbo_browser_open(_b(url)))


_T = TypeVar("_T", bound="_Object")


class _Object:
    """One owned C object; freed once by close(), `with`, or the garbage collector."""
    _free: Any = None  # the bbo_<object>_free function

    def __init__(self, ptr: Optional[int]) -> None:
        self._ptr = ptr

    @property
    def ptr(self) -> int:
        if not self._ptr:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    def _release(self) -> int:
        """Hand the C object over to a function that takes it."""
        ptr, self._ptr = self.ptr, None
        return ptr

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            type(self)._free(ptr)

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # getattr: __init__ may have failed before _ptr was set
        if getattr(self, "_ptr", None):
            self.close()


def _new(fn: Any, *args: Any) -> int:
    """Constructors (_new, _parse, _dup, _begin) take their `out` first."""
    out = c_void_p()
    _check(fn(byref(out), *args))
    return out.value


def _get(fn: Any, *args: Any) -> int:
    """Operations on an object take their `out` last."""
    out = c_void_p()
    _check(fn(*args, byref(out)))
    return out.value


class Consumer(_Object):
    """The OAuth consumer. Configure from one thread; then share it read-only.

    Clients and authorizations copy it: it may be closed after making them.
    """
    _free = lib.bbo_consumer_free
    CLIENT_AUTH_BASIC, CLIENT_AUTH_FORM = 0, 1

    def __init__(self, key: StrOrBytes, secret: Optional[StrOrBytes] = None,
                 callback_url: Optional[StrOrBytes] = None,
                 scopes: Optional[Union[str, Iterable[str]]] = None,
                 endpoints: Optional[Tuple[Optional[str], Optional[str], Optional[str]]] = None,
                 data_center: Optional[StrOrBytes] = None,
                 client_auth: Optional[int] = None) -> None:
        super().__init__(_new(lib.bbo_consumer_new, _b(key), _b(secret)))
        if callback_url is not None:
            self.set_callback_url(callback_url)
        if data_center is not None:
            self.use_data_center(data_center)
        if endpoints is not None:
            self.set_endpoints(*endpoints)
        if scopes is not None:
            self.set_scopes(scopes)
        if client_auth is not None:
            self.set_client_auth(client_auth)

    def set_callback_url(self, url: StrOrBytes) -> None:
        _check(lib.bbo_consumer_set_callback_url(self.ptr, _b(url)))

    def set_scopes(self, scopes: Union[str, Iterable[str]]) -> None:
        """scopes: "a b,c" or a list of names."""
        text = scopes if isinstance(scopes, str) else " ".join(scopes)
        s = _new(lib.bbo_scopes_parse, _b(text))
        try:
            _check(lib.bbo_consumer_set_scopes(self.ptr, s))
        finally:
            lib.bbo_scopes_free(s)

    def set_endpoints(self, authorize_url: Optional[StrOrBytes] = None,
                      token_url: Optional[StrOrBytes] = None,
                      api_base_url: Optional[StrOrBytes] = None) -> None:
        _check(lib.bbo_consumer_set_endpoints(self.ptr, _b(authorize_url), _b(token_url),
                                              _b(api_base_url)))

    def use_data_center(self, base_url: StrOrBytes) -> None:
        _check(lib.bbo_consumer_use_data_center(self.ptr, _b(base_url)))

    def set_client_auth(self, auth: int) -> None:
        _check(lib.bbo_consumer_set_client_auth(self.ptr, int(auth)))


class Token(_Object):
    """An immutable token; may be read from any number of threads at once."""
    _free = lib.bbo_token_free

    @classmethod
    def parse(cls, text: StrOrBytes, now: Optional[int] = None) -> Token:
        """A token endpoint answer, or what to_json() wrote. now: epoch seconds."""
        data = _b(text) or b""
        return cls(_new(lib.bbo_token_parse, data, len(data), _now() if now is None else now))

    def dup(self) -> Token:
        return Token(_new(lib.bbo_token_dup, self.ptr))

    def to_json(self) -> str:
        """Serialized for storage. Holds secrets: do not log it."""
        return _out_string(lib.bbo_token_to_json, self.ptr) or ""

    @property
    def access(self) -> str:
        """The access token (a secret)."""
        return _text(lib.bbo_token_access(self.ptr)) or ""

    @property
    def refresh(self) -> Optional[str]:
        """The refresh token (a secret), or None."""
        return _text(lib.bbo_token_refresh(self.ptr))

    @property
    def type(self) -> str:
        return _text(lib.bbo_token_type(self.ptr)) or ""

    @property
    def expires_at(self) -> int:
        """Epoch seconds; 0 when the server gave no lifetime."""
        return int(lib.bbo_token_expires_at(self.ptr))

    @property
    def obtained_at(self) -> int:
        return int(lib.bbo_token_obtained_at(self.ptr))

    @property
    def scopes(self) -> List[str]:
        """Granted scopes, canonical order (the set is borrowed from the token)."""
        text = _out_string(lib.bbo_scopes_to_string, lib.bbo_token_scopes(self.ptr))
        return text.split() if text else []

    def is_expired(self, now: Optional[int] = None, margin_s: int = 0) -> bool:
        return bool(lib.bbo_token_is_expired(self.ptr, _now() if now is None else now,
                                             margin_s))

    def __repr__(self) -> str:  # never the secrets
        return f"<Token expires_at={self.expires_at if self._ptr else None}>"


class Client(_Object):
    """Runs grants. Configure from one thread; then grants may run from many.

    Must outlive every Session made from it (close sessions first).
    """
    _free = lib.bbo_client_free

    def __init__(self, consumer: Consumer) -> None:
        super().__init__(_new(lib.bbo_client_new, consumer.ptr))

    def set_ca(self, ca_file: Optional[StrOrBytes] = None,
               ca_dir: Optional[StrOrBytes] = None) -> None:
        _check(lib.bbo_client_set_ca(self.ptr, _b(ca_file), _b(ca_dir)))

    def set_proxy(self, proxy: Optional[StrOrBytes]) -> None:
        """None: the environment's proxy settings; "": no proxy at all."""
        _check(lib.bbo_client_set_proxy(self.ptr, _b(proxy)))

    def set_timeouts(self, connect_ms: int = 0, request_ms: int = 0) -> None:
        _check(lib.bbo_client_set_timeouts(self.ptr, connect_ms, request_ms))

    def set_retry(self, max_attempts: int, max_wait_s: int) -> None:
        _check(lib.bbo_client_set_retry(self.ptr, max_attempts, max_wait_s))

    def exchange_code(self, auth: Authorization, code: StrOrBytes) -> Token:
        return Token(_get(lib.bbo_client_exchange_code, self.ptr, auth.ptr, _b(code)))

    def refresh(self, token: Token) -> Token:
        """The new token: persist it before use, the old refresh token is dead."""
        return Token(_get(lib.bbo_client_refresh, self.ptr, token.ptr))

    def client_credentials(self) -> Token:
        return Token(_get(lib.bbo_client_client_credentials, self.ptr))


def _consumer_ptr(consumer_or_client: Union[Consumer, Client]) -> int:
    if isinstance(consumer_or_client, Client):  # its own copy, borrowed
        return lib.bbo_client_consumer(consumer_or_client.ptr)
    return consumer_or_client.ptr


class Authorization(_Object):
    """One login transaction (state + PKCE). One thread at a time."""
    _free = lib.bbo_authorization_free
    IMPLICIT = 1

    @classmethod
    def begin(cls, consumer: Union[Consumer, Client], redirect_uri: Optional[StrOrBytes] = None,
              flags: int = 0) -> Authorization:
        """consumer: a Consumer or a Client (its copy of the consumer)."""
        if redirect_uri is None and not flags:
            return cls(_new(lib.bbo_authorization_begin, _consumer_ptr(consumer)))
        return cls(_new(lib.bbo_authorization_begin_ex, _consumer_ptr(consumer),
                        _b(redirect_uri), flags))

    begin_ex = begin

    @property
    def url(self) -> str:
        """Where to send the user's browser."""
        return _text(lib.bbo_authorization_url(self.ptr)) or ""

    @property
    def state(self) -> str:
        return _text(lib.bbo_authorization_state(self.ptr)) or ""

    @property
    def redirect_uri(self) -> Optional[str]:
        return _text(lib.bbo_authorization_redirect_uri(self.ptr))

    def complete(self, callback: StrOrBytes) -> str:
        """The code from the redirect URL (or its query); checks the state."""
        return _out_string(lib.bbo_authorization_complete, self.ptr, _b(callback)) or ""


class Loopback(_Object):
    """Receives the redirect on 127.0.0.1 / [::1]. One thread at a time."""
    _free = lib.bbo_loopback_free

    def __init__(self, callback_url: Optional[StrOrBytes] = None) -> None:
        super().__init__(_new(lib.bbo_loopback_new, _b(callback_url)))

    @property
    def redirect_uri(self) -> str:
        """http://127.0.0.1:PORT/... to give Authorization.begin."""
        return _text(lib.bbo_loopback_redirect_uri(self.ptr)) or ""

    @property
    def port(self) -> int:
        return int(lib.bbo_loopback_port(self.ptr))

    def launch_url(self, auth: Authorization) -> str:
        """A one-time local URL for the browser (its command line is public:
        never give it auth.url); redirects once to the authorization URL."""
        return _out_string(lib.bbo_loopback_launch_url, self.ptr, auth.ptr)

    def wait(self, auth: Authorization, timeout_ms: int = 300000) -> str:
        """Block (GIL released) until the redirect comes; returns the code."""
        return _out_string(lib.bbo_loopback_wait, self.ptr, auth.ptr, timeout_ms) or ""


class FileStore(_Object):
    """The built-in token file (AES-256-GCM with a 32-byte key).

    Giving it to a Session hands it over: this object is closed then.
    """
    _free = lib.bbo_store_free

    def __init__(self, path: PathLike, key: Optional[bytes] = None) -> None:
        if key is not None and len(key) != 32:
            raise ValueError("the key must be 32 bytes")
        super().__init__(_new(lib.bbo_file_store_new, os.fsencode(path),
                              None if key is None else bytes(key)))

    def load(self) -> Optional[Token]:
        """The stored Token, or None."""
        ptr = _get(lib.bbo_store_load, self.ptr)
        return Token(ptr) if ptr else None

    def save(self, token: Token) -> None:
        _check(lib.bbo_store_save(self.ptr, token.ptr))

    def clear(self) -> None:
        _check(lib.bbo_store_clear(self.ptr))


class Response(_Object):
    """An API answer: status, header(name), body (bytes), json()."""
    _free = lib.bbo_response_free

    status: int
    body: bytes

    def __init__(self, ptr: int, owned: bool = True) -> None:
        self._owned = owned
        super().__init__(ptr)
        self.status = lib.bbo_response_status(ptr)
        n = c_size_t()
        self.body = string_at(lib.bbo_response_body(ptr, byref(n)), n.value)

    def header(self, name: StrOrBytes) -> Optional[str]:
        """Case-insensitive; None if absent."""
        return _text(lib.bbo_response_header(self.ptr, _b(name)))

    def json(self) -> Any:
        return json.loads(self.body)

    def close(self) -> None:
        if self._owned:
            super().close()
        self._ptr = None  # a page is the library's: header() only inside the callback


class Session(_Object):
    """A long-lived login: fresh tokens, a store, API calls.

    Every method may be called from many Python threads at once (one refresh
    goes out; the others wait for it), except close(), which no call may
    overlap. Callbacks (on_token, foreach_page) run on whichever thread made
    the call, outside the session's lock, so they may call the session again.
    The client must outlive the session (this object keeps a reference; do
    not close() the client first).
    """
    _free = lib.bbo_session_free

    def __init__(self, client: Client, token: Optional[Token] = None,
                 store: Optional[FileStore] = None) -> None:
        # The C call takes the token even on error: give it a copy, so the
        # caller's Token stays theirs.
        initial = token.dup()._release() if token is not None else None
        super().__init__(_new(lib.bbo_session_new, client.ptr, initial))
        self._client = client      # borrowed by C: keep it alive as long as we are
        self._callbacks: List[Any] = []       # CFUNCTYPE objects: C keeps only their addresses
        if store is not None:
            self.set_store(store)

    def set_store(self, store: FileStore) -> None:
        """Hand the store over (taken even on error) and load its token."""
        _check(lib.bbo_session_set_store(self.ptr, store._release()))

    def set_token(self, token: Token) -> None:
        """A new login: replaces the token (a copy) and saves it."""
        _check(lib.bbo_session_set_token(self.ptr, token.dup()._release()))

    def set_refresh_margin(self, seconds: int) -> None:
        _check(lib.bbo_session_set_refresh_margin(self.ptr, seconds))

    def save_error(self) -> int:
        """0 when the token in memory is stored, else the last save's code."""
        return int(lib.bbo_session_save_error(self.ptr))

    def on_token(self, callback: Callable[[Token, int], None]) -> None:
        """callback(token: Token, save_error: int) after each new token.

        Its exceptions cannot cross the C frame: ctypes reports them as
        unraisable and the call goes on.
        """
        def trampoline(ptr: int, save_error: int, _payload: Optional[int]) -> None:
            callback(Token(_new(lib.bbo_token_dup, ptr)), save_error)  # ptr is borrowed
        cb = TOKEN_CB(trampoline)
        _check(lib.bbo_session_on_token(self.ptr, cb, None))
        self._callbacks.append(cb)  # freed with the session, never earlier

    def access_token(self) -> str:
        """A valid access token, refreshed first when due."""
        return _out_string(lib.bbo_session_access_token, self.ptr) or ""

    def refresh(self) -> None:
        _check(lib.bbo_session_refresh(self.ptr))

    def token(self) -> Token:
        return Token(_get(lib.bbo_session_token, self.ptr))

    def user(self) -> str:
        return _out_string(lib.bbo_session_user, self.ptr) or ""

    def logout(self) -> None:
        _check(lib.bbo_session_logout(self.ptr))

    def request(self, method: StrOrBytes, path: StrOrBytes,
                body: Optional[StrOrBytes] = None) -> Response:
        """Call the API (path or same-origin URL); any status is a Response."""
        data = _b(body)
        return Response(_get(lib.bbo_session_request, self.ptr, _b(method), _b(path), data,
                             len(data) if data is not None else 0))

    def foreach_page(self, path: StrOrBytes, callback: Callable[[Response], Optional[bool]],
                     max_pages: int = 1000) -> None:
        """Call callback(page: Response) per page, following `next`.

        The page is borrowed: status and body stay, header() works only during
        the callback. Return False to stop (raises BboError EUSER); an
        exception stops the listing and is raised again here.
        """
        raised: List[BaseException] = []

        def trampoline(ptr: int, _payload: Optional[int]) -> int:
            page = Response(ptr, owned=False)
            try:
                return 1 if callback(page) is False else 0
            except BaseException as e:  # cannot cross the C frame: carry it over
                raised.append(e)
                return 1
            finally:
                page.close()
        cb = PAGE_CB(trampoline)  # alive until the call returns
        rc = lib.bbo_session_foreach_page(self.ptr, _b(path), max_pages, cb, None)
        if rc < 0:
            error = _error(rc)  # read it first: the error is this thread's until the next call
            if raised:
                raise raised[0]
            raise error
