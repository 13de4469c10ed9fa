#!/usr/bin/env python3
"""Authorize a Gmail account and send a message with an attachment (Python, ctypes binding).

    python3 example.py CONFIG.json LOGIN_HINT ATTACHMENT_PATH

CONFIG.json is the client configuration (docs/API.md, "Client configuration"). Without
OAUTHMAIL_HEADLESS_CA the system browser opens the consent page. With OAUTHMAIL_HEADLESS_CA=ca.pem
(the local Google stand-in started with --auto-approve) the url_opener fetches the consent URL in
the background and follows its redirect to the library's loopback listener, as a browser would.
Prints the sent message's Message-ID.
"""
import os
import ssl
import sys
import threading
import urllib.request

import oauthmail


def headless_opener(ca_file):
    context = ssl.create_default_context(cafile=ca_file)

    def fetch(url):
        # Follows the stand-in's redirect to http://127.0.0.1:PORT/?code=...&state=...
        with urllib.request.urlopen(url, context=context, timeout=20) as response:
            response.read()

    def opener(url):
        # Called on the authorizing thread before the library listens for the redirect:
        # start the "browser" and return at once.
        threading.Thread(target=fetch, args=(url,), daemon=True).start()
        return True

    return opener


def main(config_path, login_hint, attachment_path):
    with open(config_path, encoding="utf-8") as f:
        config = f.read()
    with oauthmail.Client(config) as client:
        client.set_logger(lambda level, line: print(f"[log {level}] {line}", file=sys.stderr), oauthmail.LOG_INFO)
        ca = os.environ.get("OAUTHMAIL_HEADLESS_CA")
        if ca:
            client.set_url_opener(headless_opener(ca))
        token = client.authorize({"login_hint": login_hint})
        # Store `token` protected (it holds the refresh token); here it is used at once.
        message = {
            "from": f"Firma SRL <{token['email']}>",
            "to": ["Ion Popescu <ion@example.ro>"],
            "subject": "Factură nr. 123 [python] — ă â î ș ț Ă Â Î Ș Ț",
            "text": "Bună ziua,\n\nvă trimitem factura în atașament: ă â î ș ț.\n",
            "attachments": [{"path": attachment_path, "filename": "Situație plăți [python] ăâîșț.txt"}],
        }
        result = client.send(token, message)
        print(result["message_id"])


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except oauthmail.OAuthMailError as e:
        sys.exit(f"failed: {e} (hint: {e.hint})")
