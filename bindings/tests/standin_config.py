#!/usr/bin/env python3
"""Writes the client configuration that points the library at the local Google stand-in.

    standin_config.py STANDIN_JSON [gmail_api|smtp] > config.json

STANDIN_JSON is the line the stand-in printed (also in DIR/standin.json). The transport defaults
to gmail_api; smtp uses the implicit-TLS port and the https://mail.google.com/ scope it needs.
"""
import json
import sys

s = json.load(open(sys.argv[1], encoding="utf-8"))
transport = sys.argv[2] if len(sys.argv) > 2 else "gmail_api"
config = {
    "provider": "google",
    "client_id": s["client_id"],
    "client_secret": s["client_secret"],
    "transport": transport,
    "endpoints": {
        "authorization": s["authorization_endpoint"],
        "token": s["token_endpoint"],
        "revocation": s["revocation_endpoint"],
        "userinfo": s["userinfo_endpoint"],
        "gmail_api": s["gmail_api"],
        "smtp": s["smtps"],
    },
    "tls": {"extra_ca_file": s["ca_file"]},
    "timeouts": {"authorize_s": 30, "connect_s": 10, "io_s": 20},
}
if transport == "smtp":
    config["scopes"] = ["openid", "email", "https://mail.google.com/"]
json.dump(config, sys.stdout, indent=2)
print()
