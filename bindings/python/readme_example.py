import sys

import oauthmail

try:
    with oauthmail.Client(oauthmail.load_config("oauthmail.json")) as client:
        token = client.authorize(login_hint="office@firma.ro")  # opens the browser, waits
        result = client.send(token, {
            "from": "Firma SRL <office@firma.ro>", "to": ["Ion Popescu <ion@example.ro>"],
            "subject": "Factură nr. 123 — scadență",
            "text": "Bună ziua, găsiți în atașament factura. Mulțumim, Ștefan Câmpeanu",
            "attachments": [{"path": "factură-123.pdf"}]})
        print(result["message_id"])
except oauthmail.ReauthorizeError:
    sys.exit("the account must be authorized again")
except (oauthmail.OAuthMailError, oauthmail.NotInstalledError) as e:
    sys.exit(f"sending failed: {e}")
