#!/usr/bin/env python3
"""Checks that the stand-in's mailbox holds the message a binding's example sent, diacritics intact.

    check_mailbox.py MAILBOX_DIR MESSAGE_ID TAG ATTACHMENT_PATH ACCOUNT

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


def expected(tag):
    return {
        "subject": f"Factură nr. 123 [{tag}] — ă â î ș ț Ă Â Î Ș Ț",
        "text": "Bună ziua,\n\nvă trimitem factura în atașament: ă â î ș ț.\n",
        "filename": f"Situație plăți [{tag}] ăâîșț.txt",
        "to": "ion@example.ro",
    }


def find(mailbox, message_id, deadline):
    while True:
        for path in sorted(glob.glob(os.path.join(mailbox, "**", "*.eml"), recursive=True)):
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if str(msg.get("Message-ID", "")).strip() == message_id.strip():
                return path, msg
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.2)


def main(mailbox, message_id, tag, attachment_path, account):
    want = expected(tag)
    problems = []
    path, msg = find(mailbox, message_id, time.monotonic() + 10)
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
        if account not in json.dumps(side, ensure_ascii=False):
            problems.append(f"sidecar {sidecar} does not name the account {account}")
    else:
        problems.append(f"no sidecar {sidecar}")
    if problems:
        print(f"FAIL: {path}:")
        for p in problems:
            print("  - " + p)
        return 1
    print(f"ok: {os.path.basename(path)}: subject, body, attachment name and bytes intact")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
