"""liboauthmail for Python: a ctypes binding (no compiler, no dependencies).

    import oauthmail
    with oauthmail.Client({"provider": "google", "client_id": "...", "client_secret": "..."}) as c:
        token = c.authorize({"login_hint": "office@firma.ro"})   # opens the browser, waits
        result = c.send(token, {"from": "office@firma.ro", "to": ["ion@example.ro"],
                                "subject": "Factură", "text": "Bună ziua"})

Documents go in as ``dict`` (or JSON text) and come back as ``dict``. A failure raises
:class:`OAuthMailError`, which carries the status code, its name and the library's error document.

The library is found, in this order: the path in the ``OAUTHMAIL_LIBRARY`` environment variable
(when set, only that path is tried); the library bundled inside this package directory
(``oauthmail.dll``, ``liboauthmail.so``/``liboauthmail.so.0`` or ``liboauthmail.dylib``); the system's
library search path.

Threads: every call releases the GIL (``ctypes.CDLL``; ``PyDLL`` would hold it while the library
waits and deadlock the callbacks), so several threads may use one client at once and
:meth:`Client.cancel` may be called from any thread. Callbacks (the url opener, the logger) may run
on a thread the library created; exceptions raised in them never reach the library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
from typing import Any, Callable, List, Optional, Union

__all__ = [
    "Client",
    "OAuthMailError",
    "version",
    "status_name",
    "load_library",
    "OK", "INVALID_ARGUMENT", "CANCELLED", "TIMEOUT", "ACCESS_DENIED", "REAUTHORIZE",
    "INSUFFICIENT_SCOPE", "AUTH_FAILED", "NETWORK", "TLS", "RATE_LIMITED", "REJECTED",
    "PROVIDER", "IO", "INTERNAL",
]

# Status codes (oauthmail_status); fixed numbers, see API.md.
OK = 0
INVALID_ARGUMENT = 1
CANCELLED = 2
TIMEOUT = 3
ACCESS_DENIED = 4
REAUTHORIZE = 5
INSUFFICIENT_SCOPE = 6
AUTH_FAILED = 7
NETWORK = 8
TLS = 9
RATE_LIMITED = 10
REJECTED = 11
PROVIDER = 12
IO = 13
INTERNAL = 14

# Log levels passed to the logger.
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = 1, 2, 3, 4, 5

Document = Union[str, bytes, dict, list, None]

_URL_OPENER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p)
_LOGGER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p)


class _Client(ctypes.Structure):
    """The opaque oauthmail_client."""


_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()


# The file names of the library, in the order they are tried inside the package directory.
_BUNDLED_NAMES = {
    "win32": ["oauthmail.dll"],
    "darwin": ["liboauthmail.dylib"],
}.get(sys.platform, ["liboauthmail.so", "liboauthmail.so.0"])


def _candidates() -> List[str]:
    """Where the library is looked for, in order: ``$OAUTHMAIL_LIBRARY`` alone when it is set (an
    explicit choice is never second-guessed); else the library bundled inside this package
    directory (a wheel ships it there); else the system's search path."""
    env = os.environ.get("OAUTHMAIL_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = [os.path.join(here, n) for n in _BUNDLED_NAMES if os.path.isfile(os.path.join(here, n))]
    system = ctypes.util.find_library("oauthmail")
    return bundled + ([system] if system else []) + _BUNDLED_NAMES[:1]


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads (once) and returns the library; ``path`` overrides the search."""
    global _lib
    with _lib_lock:
        if _lib is not None and path is None:
            return _lib
        errors = []
        for candidate in [path] if path else _candidates():
            try:
                lib = ctypes.CDLL(candidate)  # CDLL, never PyDLL: the GIL is released during calls
                break
            except OSError as e:
                errors.append(f"{candidate}: {e}")
        else:
            raise OSError("liboauthmail not found (set OAUTHMAIL_LIBRARY to its path): " + "; ".join(errors))
        _declare(lib)
        _lib = lib
        return lib


def _declare(lib: ctypes.CDLL) -> None:
    P = ctypes.POINTER
    out = P(ctypes.c_void_p)  # char **: received as void* so ctypes never copies and loses the pointer
    client = P(_Client)
    u32 = ctypes.c_uint32
    sig = {
        "oauthmail_version": ([], ctypes.c_char_p),  # static strings may be c_char_p: never freed
        "oauthmail_status_name": ([u32], ctypes.c_char_p),
        "oauthmail_client_new": ([ctypes.c_char_p, P(client), out], u32),
        "oauthmail_client_free": ([client], None),
        "oauthmail_client_set_url_opener": ([client, _URL_OPENER, ctypes.c_void_p], u32),
        "oauthmail_client_set_logger": ([client, _LOGGER, ctypes.c_void_p, u32], u32),
        "oauthmail_authorize": ([client, ctypes.c_char_p, out], u32),
        "oauthmail_refresh": ([client, ctypes.c_char_p, out], u32),
        "oauthmail_send": ([client, ctypes.c_char_p, ctypes.c_char_p, out], u32),
        "oauthmail_revoke": ([client, ctypes.c_char_p, out], u32),
        "oauthmail_cancel": ([client], None),
        "oauthmail_string_free": ([ctypes.c_void_p], None),
    }
    for name, (args, res) in sig.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res


def _take(lib: ctypes.CDLL, ptr: ctypes.c_void_p) -> Optional[str]:
    """Decodes a library-owned string and frees it with oauthmail_string_free (never libc free)."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.oauthmail_string_free(ptr)
        ptr.value = None


def version() -> str:
    """The library's version, such as "0.1.0"."""
    return load_library().oauthmail_version().decode("utf-8")


def status_name(status: int) -> str:
    """The lowercase name of a status code ("invalid_argument"); "unknown" for unknown values."""
    return load_library().oauthmail_status_name(status).decode("utf-8")


class OAuthMailError(Exception):
    """A failed call: ``status`` (int), ``name`` ("reauthorize"), ``document`` (the error
    document as a dict), and its members ``message``, ``hint``, ``field``, ``provider``,
    ``retry_after_s`` (None where absent). ``json`` is the document as the library wrote it."""

    def __init__(self, status: int, json_text: Optional[str]):
        self.status = status
        self.json = json_text or ""
        try:
            self.document = json.loads(json_text) if json_text else {}
        except ValueError:
            self.document = {}
        err = self.document.get("error", {}) if isinstance(self.document, dict) else {}
        self.name = err.get("status") or status_name(status)
        self.message = err.get("message", "")
        self.hint = err.get("hint", "")
        self.field = err.get("field")
        self.provider = err.get("provider")
        self.retry_after_s = err.get("retry_after_s")
        text = f"{self.name} ({status}): {self.message}"
        if self.field:
            text += f" [field {self.field}]"
        super().__init__(text)


def _argument_error(field: str, message: str) -> OAuthMailError:
    doc = {"error": {"status": "invalid_argument", "code": INVALID_ARGUMENT, "message": message,
                     "hint": "Correct the input named in 'field' and call again.", "field": field}}
    return OAuthMailError(INVALID_ARGUMENT, json.dumps(doc, ensure_ascii=False))


def _encode(doc: Document, field: str, required: bool = True) -> Optional[bytes]:
    """A document as NUL-terminated UTF-8: dicts/lists are serialised, str is encoded, bytes are
    passed as they are (so a test can hand the library invalid UTF-8)."""
    if doc is None:
        if required:
            raise _argument_error(field, f"{field} is required")
        return None
    if isinstance(doc, (dict, list)):
        doc = json.dumps(doc, ensure_ascii=False)
    if isinstance(doc, str):
        doc = doc.encode("utf-8")
    if not isinstance(doc, bytes):
        raise TypeError(f"{field}: expected dict, str or bytes, got {type(doc).__name__}")
    if b"\0" in doc:
        # C strings end at the first NUL: refuse rather than send a silently truncated document.
        raise _argument_error(field, f"{field} contains a NUL character")
    return doc


class Client:
    """One configuration (provider, client id, endpoints, ...), its connections and callbacks.

    Use it as a context manager or call :meth:`close`. Methods may be called from several threads
    at once; :meth:`close` must be the last call.
    """

    def __init__(self, config: Document):
        self._lib = load_library()
        self._handle = None
        self._callbacks: list = []  # every callback ever registered, kept until close (see _keep)
        self._opener_error: Optional[BaseException] = None
        raw = _encode(config, "config")
        handle = ctypes.POINTER(_Client)()
        out = ctypes.c_void_p()
        status = self._lib.oauthmail_client_new(raw, ctypes.byref(handle), ctypes.byref(out))
        text = _take(self._lib, out)
        if status != OK:
            raise OAuthMailError(status, text)
        self._handle = handle

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Releases the handle (idempotent). No other thread may be inside a call."""
        handle, self._handle = self._handle, None
        if handle:
            self._lib.oauthmail_client_free(handle)
        self._callbacks.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _h(self):
        if not self._handle:
            raise _argument_error("client", "the client is closed")
        return self._handle

    def _call(self, fn, *args) -> dict:
        out = ctypes.c_void_p()
        status = fn(self._h(), *args, ctypes.byref(out))
        text = _take(self._lib, out)
        if status != OK:
            raise OAuthMailError(status, text)
        return json.loads(text) if text else {}

    # -- the API --------------------------------------------------------------------------------
    def authorize(self, options: Document = None) -> dict:
        """Interactive authorization; returns the token document (it holds secrets)."""
        self._opener_error = None
        try:
            return self._call(self._lib.oauthmail_authorize, _encode(options, "options", required=False))
        except OAuthMailError as e:
            if self._opener_error is not None:
                raise e from self._opener_error  # the url opener raised: show why
            raise

    def refresh(self, token: Document) -> dict:
        """A fresh access token; the result is the full new token document."""
        return self._call(self._lib.oauthmail_refresh, _encode(token, "token"))

    def send(self, token: Document, message: Document) -> dict:
        """Sends one message; the result may carry a refreshed ``token`` to store."""
        return self._call(self._lib.oauthmail_send, _encode(token, "token"), _encode(message, "message"))

    def revoke(self, token: Document) -> dict:
        """Revokes the grant at the provider."""
        return self._call(self._lib.oauthmail_revoke, _encode(token, "token"))

    def cancel(self) -> None:
        """Makes the calls in flight on this client return CANCELLED; safe from any thread."""
        if self._handle:
            self._lib.oauthmail_cancel(self._handle)

    # -- callbacks ------------------------------------------------------------------------------
    def _keep(self, cb) -> None:
        # The library may still be running a callback when it is replaced (a logger call on
        # another thread), so replaced callbacks stay referenced until the client is closed.
        self._callbacks.append(cb)

    def set_url_opener(self, opener: Optional[Callable[[str], Any]]) -> None:
        """``opener(url)`` opens the authorization URL instead of the system browser. It runs on
        the authorizing thread before the library waits for the redirect, so it must return
        promptly. Returning ``False`` (or raising) declines: authorize fails with CANCELLED.
        ``None`` goes back to the system browser."""
        if opener is None:
            status = self._lib.oauthmail_client_set_url_opener(self._h(), _URL_OPENER(), None)
        else:
            def trampoline(_user_data, url):
                try:
                    return 1 if opener(url.decode("utf-8")) is False else 0
                except BaseException as e:  # never unwind into the library
                    self._opener_error = e
                    return 1

            cb = _URL_OPENER(trampoline)
            self._keep(cb)
            status = self._lib.oauthmail_client_set_url_opener(self._h(), cb, None)
        if status != OK:
            raise OAuthMailError(status, None)

    def set_logger(self, logger: Optional[Callable[[int, str], Any]], max_level: int = LOG_INFO) -> None:
        """``logger(level, message)`` receives log lines of ``level <= max_level`` (1 error ..
        5 trace), possibly on another thread; no line holds a secret. ``None`` turns logging off."""
        if logger is None:
            status = self._lib.oauthmail_client_set_logger(self._h(), _LOGGER(), None, 0)
        else:
            def trampoline(_user_data, level, message):
                try:
                    logger(level, message.decode("utf-8", "replace"))
                except BaseException:  # never unwind into the library
                    pass

            cb = _LOGGER(trampoline)
            self._keep(cb)
            status = self._lib.oauthmail_client_set_logger(self._h(), cb, None, max_level)
        if status != OK:
            raise OAuthMailError(status, None)
