#!/usr/bin/env bash
# `make demo`: builds the library and the local Google stand-in, starts the stand-in, runs the C
# program examples/demo.c (authorize, refresh, send by the Gmail API and by SMTP), then shows what
# arrived in the stand-in's mailbox. Stops the stand-in at the end; exits non-zero on any failure.
# Needs: cargo, cc, curl, python3 (`make demo` installs them through scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/demo
STATE=$OUT/standin
standin_pid=

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
cleanup() {
  if [ -n "$standin_pid" ] && kill -0 "$standin_pid" 2>/dev/null; then
    kill "$standin_pid" 2>/dev/null || true
    wait "$standin_pid" 2>/dev/null || true
    echo "(stand-in stopped)"
  fi
}
trap cleanup EXIT

say "Building liboauthmail and the Google stand-in (cargo build; the first build takes a few minutes)"
cargo build --quiet -p oauthmail -p oauthmail-standin
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
LIB=$TARGET/debug

say "Compiling examples/demo.c against include/oauthmail.h"
mkdir -p "$OUT"
cc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude examples/demo.c -o "$OUT/demo" \
   -L"$LIB" -loauthmail -Wl,-rpath,"$LIB"
echo "  $OUT/demo"

say "Starting the local Google stand-in (OAuth, Gmail API, Gmail SMTP on 127.0.0.1)"
rm -rf "$STATE"; mkdir -p "$STATE"
"$LIB/oauthmail-standin" --state-dir "$STATE" --auto-approve >"$OUT/standin.out" 2>"$OUT/standin.err" &
standin_pid=$!
for _ in $(seq 1 300); do
  [ -s "$STATE/standin.json" ] && [ -s "$OUT/standin.out" ] && break
  kill -0 "$standin_pid" 2>/dev/null || { cat "$OUT/standin.err"; echo "the stand-in exited" >&2; exit 1; }
  sleep 0.1
done
[ -s "$OUT/standin.out" ] || { echo "the stand-in did not start within 30 s" >&2; exit 1; }

# The client configuration a host would keep in its settings, pointed at the stand-in, and an
# invoice to attach.
python3 - "$STATE/standin.json" "$OUT" <<'PY'
import json, sys, pathlib
s = json.load(open(sys.argv[1])); out = pathlib.Path(sys.argv[2])
config = {
    "provider": "google", "client_id": s["client_id"], "client_secret": s["client_secret"],
    "endpoints": {"authorization": s["authorization_endpoint"], "token": s["token_endpoint"],
                  "revocation": s["revocation_endpoint"], "userinfo": s["userinfo_endpoint"],
                  "gmail_api": s["gmail_api"], "smtp": s["smtps"]},
    # One consent for both transports: Gmail SMTP only accepts https://mail.google.com/, which
    # also allows the Gmail API (whose default scope, gmail.send, would not do for SMTP).
    "scopes": ["openid", "email", "https://mail.google.com/"],
    "tls": {"extra_ca_file": s["ca_file"]},
    "timeouts": {"authorize_s": 60},
}
(out / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
pdf = b"%PDF-1.4\n% Factura 2026-0042 (demo)\n" + bytes(range(256)) * 12 + b"\n%%EOF\n"
(out / "Factură-2026-0042.pdf").write_bytes(pdf)
print(f"  authorization endpoint {s['authorization_endpoint']}")
print(f"  Gmail API              {s['gmail_api']}")
print(f"  Gmail SMTP             {s['smtps']}")
print(f"  test account           {s['users'][0]}")
PY
ACCOUNT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["users"][0])' "$STATE/standin.json")
CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_file"])' "$STATE/standin.json")

say "Running the C host (examples/demo.c)"
"$OUT/demo" "$OUT/config.json" "$ACCOUNT" "$OUT/Factură-2026-0042.pdf" "$CA"

say "What arrived at \"Google\" (the stand-in's mailbox: $STATE/mailbox)"
python3 - "$STATE/standin.json" <<'PY'
import email, email.policy, json, pathlib, sys
s = json.load(open(sys.argv[1])); box = pathlib.Path(s["mailbox_dir"])
sidecars = sorted(box.glob("[0-9]*.json"))
if len(sidecars) != 2:
    sys.exit(f"expected 2 messages in the mailbox, found {len(sidecars)}")
for n, side in enumerate(sidecars, 1):
    meta = json.loads(side.read_text())
    msg = email.message_from_bytes((box / meta["eml"]).read_bytes(), policy=email.policy.default)
    print(f"  Message {n}: via {meta['transport']}, authenticated as {meta['account']}, {meta['size']} bytes")
    print(f"    From:    {msg['From']}")
    print(f"    To:      {msg['To']}")
    print(f"    Subject: {msg['Subject']}")
    print(f"    Envelope recipients: {', '.join(meta['envelope']['to'])}")
    if msg["Bcc"]:
        print("    Bcc: handed to the Gmail API in the message (the API learns Bcc recipients from it"
              " and removes it before delivery)")
    else:
        print("    Bcc: no header left the machine (the Bcc recipient is only in the envelope)")
    for part in msg.iter_attachments():
        print(f"    Attachment: {part.get_filename()} ({part.get_content_type()}, {len(part.get_content())} bytes)")
    body = msg.get_body(preferencelist=("plain",))
    print("    Text:    " + body.get_content().strip().splitlines()[0] if body else "    (no text part)")
PY
say "Done: authorized, refreshed, and sent by both transports."
