"""A service-account client that is not ours: Python's `cryptography` signs the RFC 7523 JWT,
urllib exchanges it and calls the Gmail API, smtplib sends over SMTP XOAUTH2 (issue 16).

Usage: service_account.py STANDIN_JSON CASE. Prints one JSON object with what the client saw;
the Rust test (tests/service_account.rs) asserts on it. Never prints a key or a token.
"""

import json
import smtplib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from standin_client import CTX, INFO, b64url, control, message as standin_message  # noqa: F401

MAIL = "https://mail.google.com/"
SEND = "https://www.googleapis.com/auth/gmail.send"
SUBJECT = "facturi@firma.ro"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def message(sender):
    return standin_message(sender, to=b"client@example.com", subject=b"Factura 2026/017", dot_line=False)


def call(url, data=None, headers=None, method=None):
    """(status, body): this client follows redirects (urlopen), unlike standin_client.call."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10, context=CTX) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()



def assertion(key, kid, iss, scope, sub=None, aud=None, iat=None, lifetime=3600, header_kid=True):
    now = int(time.time()) if iat is None else iat
    header = {"alg": "RS256", "typ": "JWT"}
    if header_kid:
        header["kid"] = kid
    claims = {"iss": iss, "scope": scope, "aud": aud or INFO["token_endpoint"], "iat": now, "exp": now + lifetime}
    if sub is not None:
        claims["sub"] = sub
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


def exchange(jwt):
    form = urllib.parse.urlencode({"grant_type": GRANT, "assertion": jwt}).encode()
    status, body = call(INFO["token_endpoint"], form, {"Content-Type": "application/x-www-form-urlencoded"})
    return status, json.loads(body)


def load_key_file(kf):
    assert kf["type"] == "service_account"
    key = serialization.load_pem_private_key(kf["private_key"].encode(), password=None)
    return key


def setup(scopes):
    kf = control("POST", "/service_accounts", {"name": "erp-mailer", "project_id": "firma-erp"})
    control("POST", "/delegation", {"client_id": kf["client_id"], "scope": scopes})
    return kf, load_key_file(kf)


def case_key_file_sends_as_subjects_on_both_transports():
    kf, key = setup([MAIL, SEND])
    out = {"fields": list(kf.keys()), "key_bits": key.key_size,
           "token_uri_is_standin": kf["token_uri"] == INFO["token_endpoint"],
           "pem_header": kf["private_key"].splitlines()[0]}
    # Gmail API as facturi@ with gmail.send.
    status, tok = exchange(assertion(key, kf["private_key_id"], kf["client_email"], SEND, sub=SUBJECT))
    out["api_token_status"] = status
    out["api_token_fields"] = sorted(tok.keys())
    raw = b64url(message(SUBJECT))
    status, body = call(INFO["gmail_api"] + "/gmail/v1/users/me/messages/send", json.dumps({"raw": raw}).encode(),
                        {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json"})
    out["api_send_status"] = status
    # SMTP as contabilitate@ with https://mail.google.com/.
    other = "contabilitate@firma.ro"
    status, tok = exchange(assertion(key, kf["private_key_id"], kf["client_email"], MAIL, sub=other))
    out["smtp_token_status"] = status
    port = int(INFO["smtps"].rsplit(":", 1)[1])
    with smtplib.SMTP_SSL("127.0.0.1", port, context=CTX, timeout=10) as s:
        s.ehlo("python.example")
        xo = "user=%s\1auth=Bearer %s\1\1" % (other, tok["access_token"])
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xo)
        out["smtp_auth_code"] = code
        out["smtp_refused"] = s.sendmail(other, ["client@example.com"], message(other))
    msgs = control("GET", "/mailbox")["messages"]
    out["mailbox"] = [[m["transport"], m["account"]] for m in msgs]
    out["counters"] = control("GET", "/counters")
    return out


def case_uploaded_public_key_signs_and_deleted_key_is_refused():
    kf, _ = setup([SEND])
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = mine.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    reg = control("POST", "/service_accounts/" + urllib.parse.quote(kf["client_email"]) + "/keys",
                  {"public_key_pem": pem})
    out = {}
    status, _ = exchange(assertion(mine, reg["private_key_id"], kf["client_email"], SEND, sub=SUBJECT))
    out["uploaded_key"] = status
    status, _ = exchange(assertion(mine, reg["private_key_id"], kf["client_email"], SEND, sub=SUBJECT,
                                   header_kid=False))
    out["uploaded_key_without_kid"] = status
    req = urllib.request.Request(INFO["control"] + "/service_accounts/" + urllib.parse.quote(kf["client_email"])
                                 + "/keys/" + reg["private_key_id"], method="DELETE")
    urllib.request.urlopen(req, timeout=10).read()
    out["after_delete"] = list(exchange(assertion(mine, reg["private_key_id"], kf["client_email"], SEND,
                                                  sub=SUBJECT)))
    return out


def case_errors():
    kf, key = setup([SEND])
    kid, iss = kf["private_key_id"], kf["client_email"]
    out = {}
    out["not_delegated_scope"] = list(exchange(assertion(key, kid, iss, MAIL, sub=SUBJECT)))
    out["unknown_subject"] = list(exchange(assertion(key, kid, iss, SEND, sub="nobody@firma.ro")))
    out["suspended_subject"] = list(exchange(assertion(key, kid, iss, SEND, sub="fost.angajat@firma.ro")))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out["wrong_key"] = list(exchange(assertion(stranger, kid, iss, SEND, sub=SUBJECT)))
    out["clock_ahead"] = list(exchange(assertion(key, kid, iss, SEND, sub=SUBJECT, iat=int(time.time()) + 900)))
    out["clock_behind"] = list(exchange(assertion(key, kid, iss, SEND, sub=SUBJECT, iat=int(time.time()) - 7200)))
    out["too_long"] = list(exchange(assertion(key, kid, iss, SEND, sub=SUBJECT, lifetime=3601)))
    out["wrong_audience"] = list(exchange(assertion(key, kid, iss, SEND, sub=SUBJECT,
                                                    aud="https://example.com/token")))
    out["no_scope"] = list(exchange(assertion(key, kid, iss, "", sub=SUBJECT)))
    out["unknown_account"] = list(exchange(assertion(key, kid, "ghost@firma-erp.iam.gserviceaccount.com", SEND,
                                                     sub=SUBJECT)))
    status, tok = exchange(assertion(key, kid, iss, SEND))
    out["own_token"] = status
    raw = b64url(message(iss))
    out["own_token_gmail"] = list(call(INFO["gmail_api"] + "/gmail/v1/users/me/messages/send",
                                       json.dumps({"raw": raw}).encode(),
                                       {"Authorization": "Bearer " + tok["access_token"],
                                        "Content-Type": "application/json"}))
    out["own_token_gmail"][1] = json.loads(out["own_token_gmail"][1])
    out["counters"] = control("GET", "/counters")
    return out


print(json.dumps(globals()["case_" + sys.argv[2]]()))
