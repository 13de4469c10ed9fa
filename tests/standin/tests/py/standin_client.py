"""What every client script of tests/py/ shares: the stand-in's info, TLS trust, plain HTTP calls
that do not follow redirects or raise on errors, the control plane, PKCE and a test message.

Each script runs as `SCRIPT.py STANDIN_JSON CASE`; this module reads STANDIN_JSON from argv[1]
when imported (Python puts the script's folder first on sys.path, so `import standin_client`
finds it). Nothing here prints a token or a secret.
"""

import base64
import hashlib
import json
import secrets
import ssl
import sys
import urllib.error
import urllib.request

INFO = json.load(open(sys.argv[1]))
CTX = ssl.create_default_context(cafile=INFO["ca_file"])


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=CTX))


def call(url, data=None, headers=None, method=None):
    """(status, headers, body bytes) without raising on HTTP errors or following redirects."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def control(method, path, body=None):
    """A control-plane call (plain HTTP JSON); raises on an HTTP error."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(INFO["control"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pkce(length=64):
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(length)[:96]
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def message(sender, to=b"friend@example.com", subject=b"Factura 2024/001", dot_line=True):
    """A small UTF-8 text message (CRLF); with dot_line, one body line starts with a dot."""
    return (
        b"From: " + sender.encode() + b"\r\n"
        b"To: " + to + b"\r\n"
        b"Subject: " + subject + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        + (b".this line starts with a dot\r\n" if dot_line else b"")
        + b"Plat\xc4\x83 la termen.\r\n"
    )
