"""liboauthmail for Python: a typed ctypes binding (no compiler, no dependencies).

    import oauthmail

    with oauthmail.Client(oauthmail.load_config("oauthmail.json")) as client:
        token = client.authorize(login_hint="office@firma.ro")    # opens the browser, waits
        result = client.send(token, {"from": "office@firma.ro", "to": ["ion@example.ro"],
                                     "subject": "Factură", "text": "Bună ziua"})
        print(result["message_id"])

Documents go in as ``dict`` (or JSON text) and come back as ``dict``s typed with
:class:`typing.TypedDict` (:class:`Token`, :class:`SendResult`, :class:`RevokeResult`,
:class:`CheckResult`, :class:`StoredAccount`); messages can be written as a :class:`Message`.
Wherever a token is accepted, a token reference may stand instead: ``account("office@firma.ro")``
(the token store, ``Config["store"]``) or ``subject("facturi@firma.ro")`` (a Workspace service
account, ``Config["service_account_file"]``). :meth:`Client.check` is a pre-flight check that
never sends; :meth:`Client.set_progress` reports (and can cancel) uploads; :meth:`Client.store_list`
and :meth:`Client.store_remove` manage the token store. Every document, status and field is described in the
repository's docs/API.md and README ("API conventions", "The JSON documents").

Errors: every failed call raises a subclass of :class:`OAuthMailError` chosen by the status
(:class:`ReauthorizeError`, :class:`NetworkError`, :class:`OAuthMailTimeoutError`, ...; see
:data:`ERRORS`), with ``status``, ``name``, ``message``, ``hint``, ``hint_id``, ``field``,
``provider``, ``retry_after_s`` and the whole ``document``. A library that cannot be found or is
too old raises :class:`NotInstalledError` (an :class:`OSError`) with the paths searched.

The library is found, in this order: the path in the ``OAUTHMAIL_LIBRARY`` environment variable
(when set, only that path is tried); the library bundled inside this package directory
(``oauthmail.dll``, ``liboauthmail.so``/``liboauthmail.so.0`` or ``liboauthmail.dylib``); the
system's library search path.

Threads: every call releases the GIL (``ctypes.CDLL``; ``PyDLL`` would hold it while the library
waits and deadlock the callbacks), so several threads may use one client at once and
:meth:`Client.cancel` may be called from any thread. The url opener runs on the thread that called
:meth:`Client.authorize`; the logger may run on a thread the library created. Exceptions raised in
any callback never reach the library: a raising url opener makes ``authorize`` raise
:class:`CancelledError` whose ``__cause__`` is the exception; a raising progress callback (it runs
on the thread that called :meth:`Client.send`) cancels the send, which raises
:class:`CancelledError` whose ``__cause__`` is the exception; a raising logger is ignored (the
first such exception is kept in :attr:`Client.logger_error`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Type, Union, cast

if sys.version_info >= (3, 8):
    from typing import Literal, TypedDict
else:  # pragma: no cover - 3.7 and older are not supported
    raise ImportError("oauthmail needs Python 3.8 or later")

__all__ = [
    "Client", "load_library", "load_config", "version", "status_name",
    "Token", "SendResult", "RevokeResult", "Message", "Attachment", "Envelope", "ErrorDetails",
    "ErrorDocument", "ProviderDetails", "Config", "StoreConfig", "CheckStep", "CheckResult",
    "StoredAccount", "AccountRef", "SubjectRef", "TokenRef", "TokenInput", "account", "subject",
    "Progress",
    "OAuthMailError", "NotInstalledError", "InvalidArgumentError", "CancelledError",
    "OAuthMailTimeoutError", "AccessDeniedError", "ReauthorizeError", "InsufficientScopeError",
    "AuthFailedError", "NetworkError", "TlsError", "RateLimitedError", "RejectedError",
    "ProviderError", "LocalIOError", "InternalError", "ERRORS", "error_class",
    "OK", "INVALID_ARGUMENT", "CANCELLED", "TIMEOUT", "ACCESS_DENIED", "REAUTHORIZE",
    "INSUFFICIENT_SCOPE", "AUTH_FAILED", "NETWORK", "TLS", "RATE_LIMITED", "REJECTED",
    "PROVIDER", "IO", "INTERNAL",
    "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE",
]

# Status codes (oauthmail_status); fixed numbers, see docs/API.md.
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

# The oldest library version this module works with (it uses nothing newer).
MIN_LIBRARY_VERSION = (0, 1, 0)


# ---- documents (docs/API.md) ----------------------------------------------------------------

class _TokenRequired(TypedDict):
    provider: str
    email: str
    access_token: str
    expires_at: int


class Token(_TokenRequired, total=False):
    """The token document (result of authorize and refresh). It holds secrets: store it
    protected, as it is."""
    scope: str
    token_type: str
    refresh_token: str
    authorized_at: int


class _SendResultRequired(TypedDict):
    message_id: str
    transport: str


class SendResult(_SendResultRequired, total=False):
    """The result of :meth:`Client.send`. ``token`` is present only when the call refreshed the
    access token: store it in place of the old one."""
    provider_id: str
    token: Token
    warnings: List[Any]


class _RevokeResultRequired(TypedDict):
    revoked: bool


class RevokeResult(_RevokeResultRequired, total=False):
    """The result of :meth:`Client.revoke`: ``{"revoked": True}``; a provider without a revocation
    endpoint (Microsoft) gives ``revoked`` False, ``forgotten`` True and a ``hint`` saying where
    the user removes the app's access."""
    forgotten: bool
    hint: str


class Attachment(TypedDict, total=False):
    """One attachment: ``path`` (a file), or ``filename`` + ``content_base64``."""
    path: str
    filename: str
    content_type: str
    content_base64: str
    content_id: str


class Envelope(TypedDict, total=False):
    to: List[str]


_MessageBase = TypedDict("_MessageBase", {"from": str}, total=False)


class Message(_MessageBase, total=False):
    """A message document. Addresses are ``"Name <a@b>"`` or ``"a@b"``; text is any Unicode."""
    to: List[str]
    cc: List[str]
    bcc: List[str]
    reply_to: str
    subject: str
    text: str
    html: str
    attachments: List[Attachment]
    headers: Dict[str, str]
    raw_path: str
    raw_base64: str
    envelope: Envelope


class ProviderDetails(TypedDict, total=False):
    http_status: int
    error: str
    error_description: str
    smtp_reply: str


class _ErrorDetailsRequired(TypedDict):
    status: str
    code: int
    message: str
    hint: str


class ErrorDetails(_ErrorDetailsRequired, total=False):
    field: str
    hint_id: str
    provider: ProviderDetails
    retry_after_s: int


class ErrorDocument(TypedDict):
    error: ErrorDetails


class _CheckStepRequired(TypedDict):
    step: str
    target: str
    ok: bool
    ms: int
    detail: str


class CheckStep(_CheckStepRequired, total=False):
    """One step of :meth:`Client.check`: ``step`` ("config", "dns", "tcp", "tls", "client",
    "refresh", "scopes", "gmail_api", "smtp_ehlo", "smtp_auth", ...), the ``target`` it looked at,
    whether it passed, how long it took, one English line of ``detail``; a failed step has the
    ``error`` a send would have raised (``status``, ``message``, ``hint``, ``hint_id``, ...)."""
    error: ErrorDetails


class CheckResult(TypedDict):
    """The report of :meth:`Client.check`: ``ok`` when every step passed; the check stops at the
    first failed step (the last one in ``steps``)."""
    ok: bool
    steps: List[CheckStep]


class StoredAccount(TypedDict):
    """One account of the token store (:meth:`Client.store_list`); never a secret. Times are Unix
    seconds, None when the store does not know them."""
    account: str
    provider: str
    scope: str
    authorized_at: Optional[int]
    expires_at: Optional[int]
    refreshed_at: Optional[int]


class AccountRef(TypedDict):
    """A token reference to an account of the token store: ``{"account": "office@firma.ro"}``.
    The library loads the stored token, refreshes it under the store's lock when needed and
    writes it back; a send result then carries no ``token``. See :func:`account`."""
    account: str


class SubjectRef(TypedDict):
    """A service-account token reference (``Config["service_account_file"]``):
    ``{"subject": "facturi@firma.ro"}``, the Workspace user to act as. See :func:`subject`."""
    subject: str


TokenRef = Union[AccountRef, SubjectRef]
"""A token reference: accepted by send, refresh, revoke (accounts only) and check."""


def account(email: str) -> AccountRef:
    """The token reference ``{"account": email}`` (needs ``"store"`` in the configuration)."""
    return {"account": email}


def subject(email: str) -> SubjectRef:
    """The token reference ``{"subject": email}`` (needs ``"service_account_file"``)."""
    return {"subject": email}


class StoreConfig(TypedDict, total=False):
    """The token store (``Config["store"]``): ``path`` of the store file (may be on a network
    share), ``protect``: ``"user"``/``"machine"`` (Windows DPAPI) or ``"none"`` (plain JSON, mode
    0600 on Unix; only when asked for by name). ``protect`` defaults to ``"user"`` on Windows and
    is required elsewhere."""
    path: str
    protect: Literal["user", "machine", "none"]


class Config(TypedDict, total=False):
    """The client configuration (docs/API.md, "Client configuration"). Any mapping is accepted;
    this type lists the fields the library knows today."""
    provider: Literal["google", "microsoft", "custom"]
    client_id: str
    client_secret: str
    client_secrets_file: str
    service_account_file: str
    store: StoreConfig
    tenant: str
    transport: Literal["gmail_api", "smtp", "graph"]
    scopes: List[str]
    endpoints: Dict[str, str]
    redirect: Dict[str, Any]
    timeouts: Dict[str, int]
    tls: Dict[str, str]
    proxy: str
    ui_language: str


JsonInput = Union[str, bytes, Mapping[str, Any]]
"""A document: a mapping (serialised as JSON), JSON text, or UTF-8 bytes (passed as they are)."""

TokenInput = Union[Token, AccountRef, SubjectRef, JsonInput]
"""What send/refresh/revoke/check accept as the token: a token document or a token reference."""


# ---- errors ---------------------------------------------------------------------------------

class OAuthMailError(Exception):
    """A failed call. ``status`` (int) and ``name`` ("reauthorize"); ``message``, ``hint``,
    ``hint_id`` (a stable id of the hint, or None where the library sends none), ``field`` (the
    input named, e.g. "message.to[1]"), ``provider`` and ``retry_after_s`` (None where absent);
    ``document`` is the whole error document, ``json`` its text as the library wrote it."""

    status: int
    name: str
    message: str
    hint: str
    hint_id: Optional[str]
    field: Optional[str]
    provider: Optional[ProviderDetails]
    retry_after_s: Optional[int]
    document: Dict[str, Any]
    json: str

    def __init__(self, status: int, json_text: Optional[str]) -> None:
        self.status = status
        self.json = json_text or ""
        document: Any
        try:
            document = json.loads(json_text) if json_text else {}
        except ValueError:
            document = {}
        self.document = document if isinstance(document, dict) else {}
        err = self.document.get("error", {})
        if not isinstance(err, dict):
            err = {}
        self.name = err.get("status") or _status_name_offline(status)
        self.message = err.get("message", "")
        self.hint = err.get("hint", "")
        self.hint_id = err.get("hint_id")
        self.field = err.get("field")
        self.provider = err.get("provider")
        self.retry_after_s = err.get("retry_after_s")
        text = f"{self.name} ({status}): {self.message}"
        if self.field:
            text += f" [field {self.field}]"
        super().__init__(text)


class InvalidArgumentError(OAuthMailError, ValueError):
    """1: bad input; ``field`` names it."""


class CancelledError(OAuthMailError):
    """2: :meth:`Client.cancel` was called, or the url opener declined (or raised)."""


class OAuthMailTimeoutError(OAuthMailError, TimeoutError):
    """3: a configured time limit ran out. Also a built-in :class:`TimeoutError`."""


class AccessDeniedError(OAuthMailError):
    """4: the user declined consent, or the provider refused this account."""


class ReauthorizeError(OAuthMailError):
    """5: the refresh token is dead: call :meth:`Client.authorize` again."""


class InsufficientScopeError(OAuthMailError):
    """6: the token lacks the scope this transport needs: authorize again."""


class AuthFailedError(OAuthMailError):
    """7: the provider rejected the client, or the access token even after one refresh."""


class NetworkError(OAuthMailError, ConnectionError):
    """8: DNS, connect, reset or proxy failure. Also a built-in :class:`ConnectionError`."""


class TlsError(OAuthMailError):
    """9: certificate or handshake failure; the message names the issuer seen."""


class RateLimitedError(OAuthMailError):
    """10: quota or rate limit; ``retry_after_s`` when known."""


class RejectedError(OAuthMailError):
    """11: the provider permanently refused the message or a recipient; nothing was sent."""


class ProviderError(OAuthMailError):
    """12: any other provider failure."""


class LocalIOError(OAuthMailError):
    """13: a local file could not be read or written (named ``IO`` in the C API)."""


class InternalError(OAuthMailError):
    """14: a bug in the library."""


ERRORS: Dict[int, Type[OAuthMailError]] = {
    INVALID_ARGUMENT: InvalidArgumentError,
    CANCELLED: CancelledError,
    TIMEOUT: OAuthMailTimeoutError,
    ACCESS_DENIED: AccessDeniedError,
    REAUTHORIZE: ReauthorizeError,
    INSUFFICIENT_SCOPE: InsufficientScopeError,
    AUTH_FAILED: AuthFailedError,
    NETWORK: NetworkError,
    TLS: TlsError,
    RATE_LIMITED: RateLimitedError,
    REJECTED: RejectedError,
    PROVIDER: ProviderError,
    IO: LocalIOError,
    INTERNAL: InternalError,
}
"""The exception class of each status; statuses added later raise :class:`OAuthMailError`."""


def error_class(status: int) -> Type[OAuthMailError]:
    """The exception class raised for ``status``."""
    return ERRORS.get(status, OAuthMailError)


def _raise(status: int, json_text: Optional[str]) -> OAuthMailError:
    return error_class(status)(status, json_text)


class NotInstalledError(OSError):
    """The library could not be loaded, or is older than this module needs. ``searched`` lists
    every path tried with the reason it failed; ``version_found`` is the version of a library
    that loaded but is too old (None otherwise)."""

    searched: List[str]
    version_found: Optional[str]

    def __init__(self, searched: Sequence[str], version_found: Optional[str] = None) -> None:
        self.searched = list(searched)
        self.version_found = version_found
        if version_found is not None:
            need = ".".join(map(str, MIN_LIBRARY_VERSION))
            text = f"liboauthmail {version_found} is too old (this module needs {need} or later): {self.searched[0]}"
        else:
            text = ("liboauthmail is not installed (set OAUTHMAIL_LIBRARY to its path); searched: "
                    + "; ".join(self.searched))
        super().__init__(text)


# ---- loading --------------------------------------------------------------------------------

_URL_OPENER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p)
_LOGGER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p)
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)


class _Client(ctypes.Structure):
    """The opaque oauthmail_client."""


_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()

# The file names of the library, in the order they are tried inside the package directory.
_BUNDLED_NAMES: List[str] = {
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


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split("-")[0].split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads (once) and returns the library; ``path`` overrides the search. Raises
    :class:`NotInstalledError` when no candidate loads or the one found is too old."""
    global _lib
    with _lib_lock:
        if _lib is not None and path is None:
            return _lib
        errors: List[str] = []
        for candidate in [path] if path else _candidates():
            try:
                lib = ctypes.CDLL(candidate)  # CDLL, never PyDLL: the GIL is released during calls
                break
            except OSError as e:
                errors.append(f"{candidate}: {e}")
        else:
            raise NotInstalledError(errors)
        try:
            lib.oauthmail_version.restype = ctypes.c_char_p
            found = lib.oauthmail_version().decode("utf-8")
        except AttributeError:
            raise NotInstalledError([f"{candidate}: not liboauthmail (no oauthmail_version)"]) from None
        if _parse_version(found) < MIN_LIBRARY_VERSION:
            raise NotInstalledError([candidate], found)
        _declare(lib)
        _lib = lib
        return lib


def _declare(lib: ctypes.CDLL) -> None:
    P = ctypes.POINTER
    out = P(ctypes.c_void_p)  # char **: received as void* so ctypes never copies and loses the pointer
    client = P(_Client)
    u32 = ctypes.c_uint32
    sig: Dict[str, Any] = {
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
    # Newer than MIN_LIBRARY_VERSION's first builds: a library without them still loads, and only
    # the method that needs one raises (NotInstalledError naming the function).
    optional: Dict[str, Any] = {
        "oauthmail_client_set_progress": ([client, _PROGRESS, ctypes.c_void_p], u32),
        "oauthmail_check": ([client, ctypes.c_char_p, out], u32),
        "oauthmail_store_list": ([client, out], u32),
        "oauthmail_store_remove": ([client, ctypes.c_char_p, out], u32),
    }
    for name, (args, res) in list(sig.items()) + list(optional.items()):
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name in optional:
                continue
            raise
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
    v: bytes = load_library().oauthmail_version()
    return v.decode("utf-8")


def status_name(status: int) -> str:
    """The lowercase name of a status code ("invalid_argument"); "unknown" for unknown values."""
    name: bytes = load_library().oauthmail_status_name(status)
    return name.decode("utf-8")


_NAMES = ["ok", "invalid_argument", "cancelled", "timeout", "access_denied", "reauthorize",
          "insufficient_scope", "auth_failed", "network", "tls", "rate_limited", "rejected",
          "provider", "io", "internal"]


def _status_name_offline(status: int) -> str:
    # Used for errors the binding itself raises, so that building one never needs the library.
    return _NAMES[status] if 0 <= status < len(_NAMES) else "unknown"


def load_config(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Reads a client configuration file (UTF-8 JSON) into a dict for :class:`Client`."""
    with open(path, encoding="utf-8") as f:
        config: Any = json.load(f)
    if not isinstance(config, dict):
        raise _argument_error("config", f"{os.fspath(path)} does not hold a JSON object")
    return config


def _argument_error(field: str, message: str) -> OAuthMailError:
    doc = {"error": {"status": "invalid_argument", "code": INVALID_ARGUMENT, "message": message,
                     "hint": "Correct the input named in 'field' and call again.", "field": field}}
    return InvalidArgumentError(INVALID_ARGUMENT, json.dumps(doc, ensure_ascii=False))


def _encode(doc: Optional[JsonInput], field: str, required: bool = True) -> Optional[bytes]:
    """A document as NUL-terminated UTF-8: mappings are serialised, str is encoded, bytes are
    passed as they are (so a test can hand the library invalid UTF-8)."""
    if doc is None:
        if required:
            raise _argument_error(field, f"{field} is required")
        return None
    if isinstance(doc, Mapping):
        doc = json.dumps(dict(doc), ensure_ascii=False)
    if isinstance(doc, str):
        doc = doc.encode("utf-8")
    if not isinstance(doc, bytes):
        raise TypeError(f"{field}: expected a mapping, str or bytes, got {type(doc).__name__}")
    if b"\0" in doc:
        # C strings end at the first NUL: refuse rather than send a silently truncated document.
        raise _argument_error(field, f"{field} contains a NUL character")
    return doc


# ---- the client -----------------------------------------------------------------------------

UrlOpener = Callable[[str], Optional[bool]]
"""``opener(url)``: open ``url`` and return promptly; returning ``False`` (or raising) declines."""
Logger = Callable[[int, str], None]
"""``logger(level, line)``: 1 = error .. 5 = trace; never holds a secret."""
Progress = Callable[[int, int], Optional[bool]]
"""``progress(bytes_done, bytes_total)`` during a send; returning ``True`` (or raising) cancels it."""


class Client:
    """One configuration (provider, client id, endpoints, ...), its connections and callbacks.

    Use it as a context manager or call :meth:`close`. Methods may be called from several threads
    at once; :meth:`close` must be the last call.
    """

    logger_error: Optional[BaseException]
    """The first exception a logger raised (the library never sees it), or None."""

    progress_error: Optional[BaseException]
    """An exception the progress callback raised in its last call (``bytes_done == bytes_total``,
    after the whole message went out, too late to cancel: the send succeeded), or None."""

    def __init__(self, config: Union[Config, JsonInput]) -> None:
        self._handle: Any = None
        self._lib = load_library()
        self._callbacks: List[Any] = []  # every callback ever registered, kept until close (see _keep)
        self._opener_error: Dict[int, BaseException] = {}  # by thread id: authorize calls may overlap
        self._progress_error: Dict[int, BaseException] = {}  # by thread id: sends may overlap
        self.logger_error = None
        self.progress_error = None
        raw = _encode(config, "config")
        handle = ctypes.POINTER(_Client)()
        out = ctypes.c_void_p()
        status = self._lib.oauthmail_client_new(raw, ctypes.byref(handle), ctypes.byref(out))
        text = _take(self._lib, out)
        if status != OK:
            raise _raise(status, text)
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

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _h(self) -> Any:
        if not self._handle:
            raise _argument_error("client", "the client is closed")
        return self._handle

    def _fn(self, name: str) -> Any:
        fn = getattr(self._lib, name, None)
        if fn is None or fn.restype is not ctypes.c_uint32:
            version_found: bytes = self._lib.oauthmail_version()
            raise NotInstalledError([f"{getattr(self._lib, '_name', '?')}: version {version_found.decode()} lacks {name}"],
                                    version_found.decode())
        return fn

    def _call(self, fn: Any, *args: Optional[bytes]) -> Any:
        out = ctypes.c_void_p()
        status = fn(self._h(), *args, ctypes.byref(out))
        text = _take(self._lib, out)
        if status != OK:
            raise _raise(status, text)
        return json.loads(text) if text else {}

    # -- the API --------------------------------------------------------------------------------
    def authorize(self, options: Optional[JsonInput] = None, *, login_hint: Optional[str] = None) -> Token:
        """Interactive authorization; returns the token document (it holds secrets: store it
        protected). ``login_hint`` is a shortcut for ``{"login_hint": ...}``."""
        if login_hint is not None:
            if options is not None:
                raise TypeError("pass either options or login_hint")
            options = {"login_hint": login_hint}
        me = threading.get_ident()
        self._opener_error.pop(me, None)
        try:
            token: Token = self._call(self._lib.oauthmail_authorize, _encode(options, "options", required=False))
            return token
        except OAuthMailError as e:
            cause = self._opener_error.pop(me, None)
            if cause is not None:
                raise e from cause  # the url opener raised: show why
            raise

    def refresh(self, token: TokenInput) -> Token:
        """A fresh access token; the result is the full new token document. ``token`` may be a
        reference: ``account(email)`` refreshes the stored token (once across every process
        sharing the store) and writes it back; ``subject(email)`` returns that user's access
        token from the service account (no refresh token)."""
        result: Token = self._call(self._lib.oauthmail_refresh, _encode(token, "token"))
        return result

    def send(self, token: TokenInput, message: Union[Message, JsonInput]) -> SendResult:
        """Sends one message; the result may carry a refreshed ``token`` to store (never with a
        reference: :func:`account` or :func:`subject`).

        With a progress callback (:meth:`set_progress`) that returns ``True`` or raises, the send
        is cancelled before its final data (nothing is delivered) and raises
        :class:`CancelledError`; when the callback raised, ``__cause__`` is its exception."""
        me = threading.get_ident()
        self._progress_error.pop(me, None)
        try:
            result: SendResult = self._call(self._lib.oauthmail_send, _encode(token, "token"),
                                            _encode(message, "message"))
        except OAuthMailError as e:
            cause = self._progress_error.pop(me, None)
            if cause is not None:
                raise e from cause  # the progress callback raised: show why
            raise
        late = self._progress_error.pop(me, None)
        if late is not None and self.progress_error is None:
            self.progress_error = late  # raised after everything went out: the send succeeded
        return result

    def revoke(self, token: TokenInput) -> RevokeResult:
        """Revokes the grant at the provider. With ``account(email)`` the stored grant is revoked
        and the entry removed. Microsoft has no revocation endpoint: the result is then
        ``{"revoked": False, "forgotten": True, "hint": ...}``."""
        result: RevokeResult = self._call(self._lib.oauthmail_revoke, _encode(token, "token"))
        return result

    def check(self, token: Optional[TokenInput] = None) -> CheckResult:
        """A pre-flight check that never sends a message: the configuration, DNS, TCP and TLS to
        each host, the OAuth client, and with a token document the refresh, the granted scopes and
        the transport (a reference is passed on as it is; the library's oauthmail_check refuses it
        today with INVALID_ARGUMENT, field ``token``). A failed step is a result, not an exception:
        ``result["ok"]`` is False and the last step's ``error`` says what failed, with ``hint``
        and ``hint_id``. Raises only when the call itself fails: bad arguments
        (:class:`InvalidArgumentError`), :meth:`cancel` (:class:`CancelledError`)."""
        fn = self._fn("oauthmail_check")
        out = ctypes.c_void_p()
        status = fn(self._h(), _encode(token, "token", required=False), ctypes.byref(out))
        text = _take(self._lib, out)
        doc: Any = None
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("steps"), list):
            if status == CANCELLED:  # cancel() ended it: the call's error, not a finding
                failed = [s for s in doc["steps"] if not s.get("ok")]
                error = failed[-1].get("error") if failed else None
                raise _raise(status, json.dumps({"error": error}) if isinstance(error, dict) else None)
            return cast(CheckResult, doc)
        if status == OK:
            raise _raise(INTERNAL, None)  # an OK status without a report: never from this library
        raise _raise(status, text)

    # -- the token store ------------------------------------------------------------------------
    def store_list(self) -> List[StoredAccount]:
        """The accounts in the token store (``"store"`` in the configuration), ordered by account;
        never a secret. Raises :class:`InvalidArgumentError` (field ``config.store``) without a
        store, :class:`LocalIOError` when the store cannot be read or decrypted."""
        doc = self._call(self._fn("oauthmail_store_list"))
        accounts: List[StoredAccount] = doc.get("accounts", [])
        return accounts

    def store_remove(self, account: str) -> bool:
        """Removes ``account`` from the token store (without regard to ASCII case); True when it
        was there. Nothing is revoked at the provider: for that, ``revoke(account(email))``."""
        doc = self._call(self._fn("oauthmail_store_remove"), _encode(account, "account"))
        return bool(doc.get("removed"))

    def cancel(self) -> None:
        """Makes the calls in flight on this client raise :class:`CancelledError`; safe from any
        thread."""
        if self._handle:
            self._lib.oauthmail_cancel(self._handle)

    # -- callbacks ------------------------------------------------------------------------------
    def _keep(self, cb: Any) -> None:
        # The library may still be running a callback when it is replaced (a logger call on
        # another thread), so replaced callbacks stay referenced until the client is closed.
        self._callbacks.append(cb)

    def set_url_opener(self, opener: Optional[UrlOpener]) -> None:
        """``opener(url)`` opens the authorization URL instead of the system browser. It runs on
        the thread that called :meth:`authorize`, before the library answers the browser, so it
        must return promptly (start a browser; do not fetch the URL and wait). Returning
        ``False`` (or raising) declines: authorize raises :class:`CancelledError`. ``None`` goes
        back to the system browser."""
        if opener is None:
            status = self._lib.oauthmail_client_set_url_opener(self._h(), _URL_OPENER(), None)
        else:
            def trampoline(_user_data: Any, url: bytes) -> int:
                try:
                    return 1 if opener(url.decode("utf-8")) is False else 0
                except BaseException as e:  # never unwind into the library
                    self._opener_error[threading.get_ident()] = e
                    return 1

            cb = _URL_OPENER(trampoline)
            self._keep(cb)
            status = self._lib.oauthmail_client_set_url_opener(self._h(), cb, None)
        if status != OK:
            raise _raise(status, None)

    def set_progress(self, progress: Optional[Progress]) -> None:
        """``progress(bytes_done, bytes_total)`` is called during :meth:`send` on the sending
        thread, at most about ten times a second, ``bytes_done`` never decreasing, and last with
        ``bytes_done == bytes_total``. Returning ``True`` cancels the send before its final data
        (nothing is delivered; send raises :class:`CancelledError`). An exception it raises never
        reaches the library: it cancels the same way, and send raises :class:`CancelledError`
        whose ``__cause__`` is the exception. ``None`` removes the callback."""
        fn = self._fn("oauthmail_client_set_progress")
        if progress is None:
            status = fn(self._h(), _PROGRESS(), None)
        else:
            def trampoline(_user_data: Any, done: int, total: int) -> int:
                try:
                    return 1 if progress(done, total) is True else 0
                except BaseException as e:  # never unwind into the library
                    self._progress_error.setdefault(threading.get_ident(), e)
                    return 1

            cb = _PROGRESS(trampoline)
            self._keep(cb)
            status = fn(self._h(), cb, None)
        if status != OK:
            raise _raise(status, None)

    def set_logger(self, logger: Optional[Logger], max_level: int = LOG_INFO) -> None:
        """``logger(level, message)`` receives log lines of ``level <= max_level`` (1 error ..
        5 trace), possibly on another thread; no line holds a secret. ``None`` turns logging off.
        An exception the logger raises is kept in :attr:`logger_error` (the first one) and
        otherwise ignored."""
        if logger is None:
            status = self._lib.oauthmail_client_set_logger(self._h(), _LOGGER(), None, 0)
        else:
            def trampoline(_user_data: Any, level: int, message: bytes) -> None:
                try:
                    logger(level, message.decode("utf-8", "replace"))
                except BaseException as e:  # never unwind into the library
                    if self.logger_error is None:
                        self.logger_error = e

            cb = _LOGGER(trampoline)
            self._keep(cb)
            status = self._lib.oauthmail_client_set_logger(self._h(), cb, None, max_level)
        if status != OK:
            raise _raise(status, None)
