#!/usr/bin/env python3
"""Checks that the stand-in's mailbox holds the three messages smoke.exe sent for one target.

Usage: check_mailbox.py MAILBOX_DIR TAG EMAIL MS_EMAIL
  TAG is the harness's arch tag ("x64" or "x86"). For each LABEL (smtp, gmail_api; store: the
  Gmail API send through the DPAPI token store; subject: the service account's send as
  facturi@firma.ro over the Gmail API; graph: the send through Microsoft Graph as MS_EMAIL) exactly one message whose Subject is
  "Factură smoke TAG LABEL — șță" must be there, accepted over that transport for that account,
  carrying the attachment "factură ășț.txt" (the non-ASCII Windows path the harness attached) with
  the bytes the harness wrote. Prints one line per check and
  "N passed, N failed".
"""
import email
import email.policy
import json
import pathlib
import sys


def main() -> int:
    mailbox, tag, user, ms_user = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    passed = failed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        if ok:
            passed += 1
        else:
            failed += 1

    sidecars = []
    for side in sorted(mailbox.glob("*.json")):
        meta = json.loads(side.read_text(encoding="utf-8"))
        msg = email.message_from_bytes((mailbox / meta["eml"]).read_bytes(), policy=email.policy.default)
        sidecars.append((meta, msg))

    want_content = f"Factura de test ({tag}) ășț\r\n".encode("utf-8")
    # The label is the subject's: "store" was sent over the Gmail API through the token store.
    for label, transport, account in (("smtp", "smtp", user), ("gmail_api", "gmail_api", user),
                                      ("store", "gmail_api", user), ("subject", "gmail_api", "facturi@firma.ro"),
                                      ("graph", "graph", ms_user)):
        subject = f"Factură smoke {tag} {label} — șță"
        found = [(m, msg) for m, msg in sidecars if str(msg["subject"]) == subject]
        check(len(found) == 1, f"{tag} {label}: one message with subject {subject!r} (found {len(found)})")
        if len(found) != 1:
            continue
        meta, msg = found[0]
        check(meta["transport"] == transport, f"{tag} {label}: accepted over {meta['transport']}")
        check(meta["account"] == account, f"{tag} {label}: authenticated as {meta['account']}")
        check(meta["envelope"]["to"] == ["ion@example.ro"], f"{tag} {label}: envelope to {meta['envelope']['to']}")
        attachments = list(msg.iter_attachments())
        names = [a.get_filename() for a in attachments]
        check(names == ["factură ășț.txt"], f"{tag} {label}: attachment names {names}")
        if attachments:
            body = attachments[0].get_payload(decode=True)
            check(body == want_content, f"{tag} {label}: attachment bytes {body!r}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
