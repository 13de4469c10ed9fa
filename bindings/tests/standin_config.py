#!/usr/bin/env python3
"""Writes the client configuration that points the library at the local Google stand-in.

    standin_config.py STANDIN_JSON [gmail_api|smtp] > config.json
    standin_config.py STANDIN_JSON store STORE_PATH > config-store.json
    standin_config.py STANDIN_JSON sa KEY_FILE > config-sa.json
    standin_config.py STANDIN_JSON microsoft-graph|microsoft-smtp > config-ms-graph.json

STANDIN_JSON is the line the stand-in printed (also in DIR/standin.json). The transport defaults
to gmail_api; smtp uses the implicit-TLS port and the https://mail.google.com/ scope it needs.
- store: the gmail_api configuration with the token store at STORE_PATH ("protect": "none": the
  Linux tests have no DPAPI); senders then pass {"account": EMAIL} instead of a token document.
- sa: a Google Workspace service account (KEY_FILE is the key file the stand-in's control plane
  made, POST /service_accounts); senders pass {"subject": EMAIL}, no authorize.
- microsoft-graph / microsoft-smtp: Microsoft 365 (the stand-in's public client, PKCE, no
  secret) with the Graph or the Outlook SMTP (STARTTLS) transport.
"""
import json
import sys

s = json.load(open(sys.argv[1], encoding="utf-8"))
mode = sys.argv[2] if len(sys.argv) > 2 else "gmail_api"
transport = {"store": "gmail_api", "sa": "gmail_api", "microsoft-graph": "graph", "microsoft-smtp": "smtp"}.get(mode, mode)
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
if mode == "smtp":
    config["scopes"] = ["openid", "email", "https://mail.google.com/"]
elif mode == "store":
    config["store"] = {"path": sys.argv[3], "protect": "none"}
elif mode == "sa":
    config = {
        "provider": "google",
        "service_account_file": sys.argv[3],
        "transport": "gmail_api",
        "endpoints": {"gmail_api": s["gmail_api"]},
        "tls": config["tls"],
        "timeouts": {"connect_s": 10, "io_s": 20},
    }
elif mode.startswith("microsoft-"):
    m = s["microsoft"]
    config = {
        "provider": "microsoft",
        "client_id": m["public_client_id"],
        "transport": transport,
        "endpoints": {
            "authorization": m["authorization_endpoint"],
            "token": m["token_endpoint"],
            "smtp": m["smtp_starttls"],
            "graph": m["graph"],
        },
        "tls": config["tls"],
        "timeouts": config["timeouts"],
    }
json.dump(config, sys.stdout, indent=2)
print()
