#!/usr/bin/env python3
"""Checks that the stand-in's mailbox holds the message a binding's example sent, diacritics intact.

    check_mailbox.py MAILBOX_DIR MESSAGE_ID TAG ATTACHMENT_PATH ACCOUNT [TRANSPORT]
    check_mailbox.py readme MAILBOX_DIR MESSAGE_ID ATTACHMENT_PATH ACCOUNT
                                   (the message of the README programs, bindings/README.md)
    check_mailbox.py selftest      (proves the check fails on mojibake and wrong bytes)

Every example sends the same message, marked with its binding's TAG (python, cpp, csharp,
pascal-delphi, ...). The .eml is parsed with the standard library (RFC 2047 subject, RFC 2231
filename, transfer encodings decoded) and compared with the exact expected text; the .json sidecar
must name the authenticated ACCOUNT. Exit status 0 when everything matches.
"""
import email
import email.policy
import glob
import json
import os
import sys
import time


# What every README program (bindings/README.md) sends: ă â î ș ț in the subject, the body and
# the attachment's file name.
README = {
    "subject": "Factură nr. 123 — scadență",
    "text": "Bună ziua, găsiți în atașament factura. Mulțumim, Ștefan Câmpeanu",
    "filename": "factură-123.pdf",
    "to": "ion@example.ro",
}


# The Delphi 7 model (bindings/pascal/test_delphi7.dpr) writes Windows-1250 text: s and t with a
# cedilla (U+015F, U+0163), which is what that code page has, not the comma-below forms.
DELPHI7 = {
    "subject": "Factură nr. 123 [pascal-delphi7-model] — ă â î ş ţ Ă Â Î Ş Ţ",
    "text": "Bună ziua,\n\nvă trimitem factura în ataşament: ă â î ş ţ.\n",
    "filename": "Situaţie plăţi [pascal-delphi7-model] ăâîşţ.txt",
    "to": "ion@example.ro",
}


def expected(tag):
    if tag == "readme":
        return README
    if tag == "pascal-delphi7-model":
        return DELPHI7
    return {
        "subject": f"Factură nr. 123 [{tag}] — ă â î ș ț Ă Â Î Ș Ț",
        "text": "Bună ziua,\n\nvă trimitem factura în atașament: ă â î ș ț.\n",
        "filename": f"Situație plăți [{tag}] ăâîșț.txt",
        "to": "ion@example.ro",
    }


def find(mailbox, message_id, deadline):
    while True:
        for path in sorted(glob.glob(os.path.join(mailbox, "*.eml"))):
            if path.endswith(".delivered.eml"):
                continue
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if str(msg.get("Message-ID", "")).strip() == message_id.strip():
                return path, msg
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.2)


def main(mailbox, message_id, tag, attachment_path, account, transport=None, deadline_wait=True):
    want = expected(tag)
    problems = []
    path, msg = find(mailbox, message_id, time.monotonic() + (10 if deadline_wait else 0))
    if msg is None:
        print(f"FAIL: no .eml with Message-ID {message_id} in {mailbox}")
        return 1
    raw_subject = msg.get("Subject")
    if str(raw_subject) != want["subject"]:
        problems.append(f"subject {str(raw_subject)!r} != {want['subject']!r}")
    if want["to"] not in str(msg.get("To", "")):
        problems.append(f"To {msg.get('To')!r} lacks {want['to']}")
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content().replace("\r\n", "\n") if body is not None else None
    if text is None or want["text"].strip() not in text:
        problems.append(f"text body {text!r} lacks {want['text']!r}")
    attachments = list(msg.iter_attachments())
    with open(attachment_path, "rb") as f:
        content = f.read()
    names = [a.get_filename() for a in attachments]
    match = [a for a in attachments if a.get_filename() == want["filename"]]
    if not match:
        problems.append(f"attachment names {names!r} lack {want['filename']!r}")
    elif match[0].get_payload(decode=True) != content:
        problems.append("attachment bytes differ from the file sent")
    sidecar = os.path.splitext(path)[0] + ".json"
    if os.path.exists(sidecar):
        with open(sidecar, encoding="utf-8") as f:
            side = json.load(f)
        if side.get("account") != account:
            problems.append(f"sidecar account {side.get('account')!r} != {account!r}")
        if transport and side.get("transport") != transport:
            problems.append(f"sidecar transport {side.get('transport')!r} != {transport!r}")
        if want["to"] not in side.get("envelope", {}).get("to", []):
            problems.append(f"sidecar envelope {side.get('envelope')!r} lacks {want['to']}")
    else:
        problems.append(f"no sidecar {sidecar}")
    if problems:
        print(f"FAIL: {path}:")
        for p in problems:
            print("  - " + p)
        return 1
    print(f"ok: {os.path.basename(path)}: subject, body, attachment name and bytes intact")
    return 0


def selftest():
    """The check must tell a correct message from the usual corruptions (UTF-8 read as cp1252,
    the wrong attachment bytes, a diacritic dropped): run against hand-made mailboxes."""
    import tempfile
    from email.message import EmailMessage

    tag, account, mid = "selftest", "erp.test@gmail.com", "<selftest@example>"
    want = expected(tag)
    mojibake = lambda t: t.encode("utf-8").decode("cp1252", "replace")
    cases = {
        "correct": ({}, 0),
        "subject read as cp1252": ({"subject": mojibake(want["subject"])}, 1),
        "filename read as cp1252": ({"filename": mojibake(want["filename"])}, 1),
        "body lost a diacritic": ({"text": want["text"].replace("ș", "s")}, 1),
        "attachment bytes differ": ({"content": b"other"}, 1),
    }
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        attachment = os.path.join(d, "a.txt")
        with open(attachment, "wb") as f:
            f.write("Conținut: ăâîșț\n".encode("utf-8"))
        for name, (override, want_rc) in cases.items():
            box = os.path.join(d, name.replace(" ", "_"))
            os.makedirs(box)
            m = EmailMessage()
            m["From"], m["To"], m["Message-ID"] = account, "Ion Popescu <ion@example.ro>", mid
            m["Subject"] = override.get("subject", want["subject"])
            m.set_content(override.get("text", want["text"]))
            with open(attachment, "rb") as f:
                content = override.get("content", f.read())
            m.add_attachment(content, maintype="text", subtype="plain", filename=override.get("filename", want["filename"]))
            with open(os.path.join(box, "000001-x.eml"), "wb") as f:
                f.write(m.as_bytes())
            with open(os.path.join(box, "000001-x.json"), "w") as f:
                json.dump({"account": account, "envelope": {"to": [want["to"]]}}, f)
            rc = main(box, mid, tag, attachment, account, deadline_wait=False)
            if rc != want_rc:
                failures += 1
                print(f"SELFTEST FAIL: {name}: exit {rc}, expected {want_rc}")
    print("selftest:", "ok" if failures == 0 else f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        sys.exit(selftest())
    if sys.argv[1:2] == ["readme"] and len(sys.argv) == 6:
        _, _, box, mid, attachment, account = sys.argv
        sys.exit(main(box, mid, "readme", attachment, account))
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
