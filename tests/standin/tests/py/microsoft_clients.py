"""Clients that are not ours (urllib, ssl, smtplib) driving the stand-in's Microsoft side.

Usage: microsoft_clients.py STANDIN_JSON CASE. Prints one JSON object with what the client saw;
tests/python_microsoft.rs asserts on it. Never prints tokens or secrets.
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

MS = INFO["microsoft"]
USER = MS["work_users"][0]
REDIRECT = "http://localhost:8768"
SMTP_SCOPE = "openid email offline_access https://outlook.office.com/SMTP.Send"
MESSAGE = message(USER)


def token(params):
    status, _, body = call(MS["token_endpoint"], urllib.parse.urlencode(params).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    return status, json.loads(body)


def sign_in(scope, redeem_scope=None):
    """Authorization code + PKCE S256 for the public client: no client_secret anywhere.

    Consent covers `scope`; the code is redeemed for `redeem_scope` (one resource).
    """
    control("POST", "/microsoft/settings", {"auto_approve": True})
    verifier, challenge = pkce(48)
    q = urllib.parse.urlencode({
        "client_id": MS["public_client_id"], "response_type": "code", "redirect_uri": REDIRECT,
        "scope": scope, "code_challenge": challenge, "code_challenge_method": "S256",
        "state": "py-state", "login_hint": USER,
    })
    status, headers, _ = call(MS["authorization_endpoint"] + "?" + q)
    assert status == 302, status
    loc = urllib.parse.urlsplit(headers["Location"])
    got = urllib.parse.parse_qs(loc.query)
    code = got["code"][0]
    status, doc = token({
        "client_id": MS["public_client_id"], "grant_type": "authorization_code", "code": code,
        "redirect_uri": REDIRECT, "code_verifier": verifier, "scope": redeem_scope or scope,
    })
    assert status == 200, doc
    return loc, got, doc


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def smtp_port():
    return int(MS["smtp_starttls"].rsplit(":", 1)[1])


def xoauth2(user, access):
    return base64.b64encode(f"user={user}\x01auth=Bearer {access}\x01\x01".encode()).decode()


def case_sign_in_smtp_rotate_graph():
    # One consent for both resources; the code gives the SMTP token, a refresh the Graph one.
    loc, got, doc = sign_in(SMTP_SCOPE + " Mail.Send", SMTP_SCOPE)
    out = {
        "redirect_path": loc.path, "state": got["state"][0], "has_session_state": "session_state" in got,
        "token_keys": list(doc.keys()), "preferred_username": claims(doc["id_token"])["preferred_username"],
        "smtp_aud": claims(doc["access_token"])["aud"],
    }
    with smtplib.SMTP("127.0.0.1", smtp_port(), timeout=10) as s:
        s.ehlo("py.example")
        out["auth_before_tls"] = s.has_extn("auth")
        s.starttls(context=CTX)
        s.ehlo("py.example")
        out["auth_after_tls"] = s.esmtp_features.get("auth", "").strip()
        code, _ = s.docmd("AUTH", "XOAUTH2 " + xoauth2(USER, doc["access_token"]))
        out["auth_code"] = code
        out["refused"] = s.sendmail(USER, ["friend@example.com"], MESSAGE)
    # Refresh for Graph: a new refresh token; the old one is spent.
    status, g = token({"client_id": MS["public_client_id"], "grant_type": "refresh_token",
                       "refresh_token": doc["refresh_token"], "scope": "Mail.Send offline_access"})
    out["refresh_status"] = status
    out["rotated"] = g["refresh_token"] != doc["refresh_token"]
    out["graph_aud"] = claims(g["access_token"])["aud"]
    status, old = token({"client_id": MS["public_client_id"], "grant_type": "refresh_token",
                         "refresh_token": doc["refresh_token"], "scope": "Mail.Send"})
    out["old_refresh"] = [status, old["error"], old["error_codes"]]
    status, headers, body = call(MS["graph"] + "/v1.0/me/sendMail", base64.b64encode(MESSAGE),
                                 {"Authorization": "Bearer " + g["access_token"], "Content-Type": "text/plain"})
    out["graph_status"] = status
    out["graph_body_empty"] = body == b""
    msgs = control("GET", "/mailbox")["messages"]
    out["transports"] = [m["transport"] for m in msgs]
    out["byte_exact"] = all(
        base64.b64decode(control("GET", "/mailbox/" + m["id"])["raw_base64"]) == MESSAGE for m in msgs)
    return out


def case_smtp_auth_disabled_and_public_secret():
    _, _, doc = sign_in(SMTP_SCOPE)
    control("POST", "/microsoft/settings", {"smtp_auth_disabled_tenant": True})
    out = {}
    with smtplib.SMTP("127.0.0.1", smtp_port(), timeout=10) as s:
        s.starttls(context=CTX)
        s.ehlo("py.example")
        code, msg = s.docmd("AUTH", "XOAUTH2 " + xoauth2(USER, doc["access_token"]))
        out["auth"] = [code, msg.decode().split(" [")[0]]
    status, err = token({"client_id": MS["public_client_id"], "client_secret": "anything",
                         "grant_type": "refresh_token", "refresh_token": doc["refresh_token"],
                         "scope": SMTP_SCOPE})
    out["public_secret"] = [status, err["error"], err["error_codes"], err["error_description"].split("\r\n")[0]]
    return out


CASES = {
    "sign_in_smtp_rotate_graph": case_sign_in_smtp_rotate_graph,
    "smtp_auth_disabled_and_public_secret": case_smtp_auth_disabled_and_public_secret,
}

print(json.dumps(CASES[sys.argv[2]]()))
