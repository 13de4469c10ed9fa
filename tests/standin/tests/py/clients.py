"""Clients that are not ours (urllib, ssl, smtplib) driving the stand-in.

Usage: clients.py STANDIN_JSON CASE. Prints one JSON object with what the client saw; the Rust
test (tests/python.rs) asserts on it. Never prints tokens or secrets.
"""

import base64
import json
import secrets
import smtplib
import sys
import urllib.error
import urllib.parse
import urllib.request

from standin_client import CTX, INFO, call, control, message, pkce  # noqa: F401 (CTX: smtplib)

USER = INFO["users"][0]
REDIRECT = "http://127.0.0.1:8767/"
MESSAGE = message(USER)


def authorize_and_exchange(scope, **extra):
    verifier, challenge = pkce(64)
    params = {
        "client_id": INFO["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
        "scope": scope, "code_challenge": challenge, "code_challenge_method": "S256",
        "state": "py-state", "access_type": "offline", "prompt": "consent", "login_hint": USER,
    }
    status, headers, _ = call(INFO["authorization_endpoint"] + "?" + urllib.parse.urlencode(params))
    assert status == 302, status
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
    assert q["state"] == "py-state"
    form = {
        "code": q["code"], "client_id": INFO["client_id"], "client_secret": INFO["client_secret"],
        "redirect_uri": REDIRECT, "grant_type": "authorization_code", "code_verifier": verifier,
    }
    form.update(extra)
    form = {k: v for k, v in form.items() if v is not None}
    status, headers, body = call(INFO["token_endpoint"], urllib.parse.urlencode(form).encode())
    return status, body, form


def token(scope="openid email https://mail.google.com/"):
    status, body, _ = authorize_and_exchange(scope)
    assert status == 200, body
    return json.loads(body)


def xoauth2(user, access_token):
    return "user=%s\1auth=Bearer %s\1\1" % (user, access_token)


def mailbox_bytes(msg_id):
    m = control("GET", "/mailbox/" + msg_id)
    return m, base64.b64decode(m["raw_base64"])


def case_smtps_xoauth2_delivers_byte_exact():
    tok = token()
    port = int(INFO["smtps"].rsplit(":", 1)[1])
    with smtplib.SMTP_SSL("127.0.0.1", port, context=CTX, timeout=10) as s:
        s.ehlo("python.example")
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(USER, tok["access_token"]))
        refused = s.sendmail(USER, ["friend@example.com"], MESSAGE)
    msgs = control("GET", "/mailbox")["messages"]
    m, raw = mailbox_bytes(msgs[0]["id"])
    return {"auth_code": code, "refused": refused, "count": len(msgs), "byte_exact": raw == MESSAGE,
            "transport": m["transport"], "account": m["account"], "envelope": m["envelope"],
            "auth_mechanism": m["smtp"]["auth_mechanism"]}


def case_starttls_xoauth2_delivers_byte_exact():
    tok = token()
    port = int(INFO["smtp_starttls"].rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("python.example")
        before = s.has_extn("auth"), s.has_extn("starttls")
        s.starttls(context=CTX)
        s.ehlo("python.example")
        after = s.has_extn("auth"), s.esmtp_features.get("auth", "").strip()
        s.auth("XOAUTH2", lambda challenge=None: xoauth2(USER, tok["access_token"]))
        s.sendmail(USER, ["friend@example.com"], MESSAGE)
    msgs = control("GET", "/mailbox")["messages"]
    _, raw = mailbox_bytes(msgs[0]["id"])
    return {"auth_before_tls": before[0], "starttls_before_tls": before[1],
            "auth_after_tls": after[0], "auth_mechanisms": after[1], "byte_exact": raw == MESSAGE,
            "port": msgs[0]["smtp"]["port"]}


def case_auth_before_starttls_is_refused():
    port = int(INFO["smtp_starttls"].rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("python.example")
        code, msg = s.docmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2(USER, "x").encode()).decode())
    return {"code": code, "message": msg.decode()}


def case_xoauth2_failure_is_535_after_the_empty_response():
    tok = token("openid email https://www.googleapis.com/auth/gmail.send")
    port = int(INFO["smtps"].rsplit(":", 1)[1])
    challenges = []

    def auth(challenge=None):
        if challenge is None:
            return xoauth2(USER, tok["access_token"])
        challenges.append(challenge.decode())
        return ""  # the SASL empty response

    with smtplib.SMTP_SSL("127.0.0.1", port, context=CTX, timeout=10) as s:
        s.ehlo("python.example")
        try:
            s.auth("XOAUTH2", auth)
            return {"error": "no exception"}
        except smtplib.SMTPAuthenticationError as e:
            return {"code": e.smtp_code, "message": e.smtp_error.decode(), "challenges": challenges}


def case_token_endpoint_errors():
    out = {}
    status, body, _ = authorize_and_exchange("https://mail.google.com/", client_secret="wrong")
    out["wrong_secret"] = [status, body.decode()]
    status, body, _ = authorize_and_exchange("https://mail.google.com/", client_secret=None)
    out["missing_secret"] = [status, body.decode()]
    status, body, _ = authorize_and_exchange("https://mail.google.com/", code_verifier=None)
    out["missing_verifier"] = [status, body.decode()]
    status, body, form = authorize_and_exchange("https://mail.google.com/")
    assert status == 200
    status, _, body = call(INFO["token_endpoint"], urllib.parse.urlencode(form).encode())
    out["reused_code"] = [status, body.decode()]
    status, headers, _ = call(INFO["token_endpoint"], urllib.parse.urlencode(form).encode())
    out["error_headers"] = {k.lower(): v for k, v in headers.items()
                            if k.lower() in ("content-type", "cache-control", "pragma", "expires", "server")}

    def refresh(rt):
        form = {"client_id": INFO["client_id"], "client_secret": INFO["client_secret"],
                "refresh_token": rt, "grant_type": "refresh_token"}
        s, _, b = call(INFO["token_endpoint"], urllib.parse.urlencode(form).encode())
        return [s, b.decode()]

    rt = token()["refresh_token"]
    call(INFO["revocation_endpoint"] + "?" + urllib.parse.urlencode({"token": rt}), b"")
    out["revoked_refresh"] = refresh(rt)
    rt = token()["refresh_token"]
    out["refresh_before_7_days"] = refresh(rt)[0]
    control("POST", "/clock", {"advance_s": 7 * 86400 + 1})
    out["refresh_after_7_days"] = refresh(rt)
    return out


def case_gmail_api_send():
    tok = token("openid email https://www.googleapis.com/auth/gmail.send")
    raw = base64.urlsafe_b64encode(MESSAGE).decode().rstrip("=")
    status, headers, body = call(INFO["gmail_api"] + "/gmail/v1/users/me/messages/send",
                                 json.dumps({"raw": raw}).encode(),
                                 {"Authorization": "Bearer " + tok["access_token"],
                                  "Content-Type": "application/json"})
    res = json.loads(body)
    m, stored = mailbox_bytes(res["id"])
    return {"status": status, "labelIds": res["labelIds"], "byte_exact": stored == MESSAGE,
            "transport": m["transport"]}


print(json.dumps(globals()["case_" + sys.argv[2]]()))
