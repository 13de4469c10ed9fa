#!/usr/bin/env bash
# timeout: 1200
# The Windows DLLs as released: the x64 and x86 oauthmail.dll, liboauthmail.dll.a and oauthmail.lib
# taken from dist/oauthmail-<version>-windows.zip (built once, by `make dist`: scripts/dist.sh
# cross-builds them for x86_64-pc-windows-gnu and i686-pc-windows-gnu with mingw-w64, release
# profile), then checked and run:
#   - exports: exactly the functions of include/oauthmail.h, undecorated, and windows/oauthmail.def
#     lists the same names;
#   - imports: Windows system DLLs only (no libgcc_s, libwinpthread or other MinGW runtime DLL);
#   - tests/windows/smoke.c, compiled with mingw for the same target and linked with the zip's
#     liboauthmail.dll.a (and once more with its MSVC-format oauthmail.lib, for the --untrusted
#     run), run under Wine (x86_64: the host's wine64; i686: wine32 in the i386 chroot
#     from scripts/deps.d/60-windows.sh) against the Google stand-in running natively on
#     127.0.0.1 over HTTPS: version, version resource, bad input, TLS refusal while the stand-in's
#     CA is not trusted, then (CA in the Windows Root store) authorize -> refresh -> send over the
#     Gmail API and SMTP with an attachment at a non-ASCII Windows path (and once through
#     Microsoft Graph with a token minted by the stand-in's control plane), authorize through the
#     system browser (ShellExecuteW), and authorize + send + refresh through a DPAPI
#     "user"-protected token store whose file must hold no token in any encoding (a copy read
#     with "protect": "none" fails cleanly); a test-hooks build of the same DLL turns a panic into
#     OAUTHMAIL_INTERNAL (see tests/windows/smoke.c and docs/windows.md);
#   - tests/windows/check_mailbox.py: the stand-in's mailbox holds those messages;
#   - x64 only, in its own block ("[cli]"): oauthmail.exe from the zip under Wine (version, the
#     Romanian help, a service-account authorize refused with its hint, then authorize through the
#     "browser" and send over the Gmail API and SMTP, the messages checked in the mailbox).
# A Wine run is judged by the harness's "N passed, N failed" line, never by wine's exit status
# (wine can exit 0 without having run the program). Installs nothing.
# Environment: WIN_TARGETS (default: both targets), OAUTHMAIL_WIN_CACHE (as in deps.d).
# Needs dist/ (`make test` runs `make dist` first).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CACHE=${OAUTHMAIL_WIN_CACHE:-/var/cache/oauthmail-win}
ROOT32=$CACHE/i386root
TARGETS=${WIN_TARGETS:-"x86_64-pc-windows-gnu i686-pc-windows-gnu"}
W=$REPO/target/windows-smoke
now() { date +%s; }
t_all=$(now)

for tool in x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc wine; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/install-deps.sh"; exit 1; }
done
[ -e "$ROOT32/.oauthmail-ready" ] || { echo "the i386 wine32 chroot is missing: run scripts/install-deps.sh"; exit 1; }
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
ZIP=dist/oauthmail-$VERSION-windows.zip
[ -s "$ZIP" ] || { echo "$ZIP is missing: run make dist"; exit 1; }

# Exported names: the header's functions (comment lines dropped) and the .def file's.
header_names=$(grep -vE '^\s*(/\*|\*|//)' include/oauthmail.h | grep -oE '\boauthmail_[a-z_]+\(' | tr -d '(' | sort -u)
def_names=$(sed -n '/^EXPORTS/,$p' windows/oauthmail.def | grep -oE '^\s+oauthmail_[a-z_]+' | tr -d ' \t' | sort -u)
[ -n "$header_names" ] || { echo "no functions found in include/oauthmail.h"; exit 1; }
if [ "$header_names" != "$def_names" ]; then
  echo "FAIL windows/oauthmail.def does not list exactly the header's functions:"
  diff <(echo "$header_names") <(echo "$def_names") || true
  exit 1
fi
echo "ok   windows/oauthmail.def lists the header's $(echo "$header_names" | wc -l) functions"

# Windows system DLLs the library may import (compared case-insensitively). Anything else, and
# above all a MinGW runtime DLL (libgcc_s_*.dll, libwinpthread-1.dll, libstdc++-6.dll), would
# have to be shipped next to oauthmail.dll: fail instead.
ALLOWED_IMPORTS="advapi32.dll api-ms-win-core-synch-l1-2-0.dll bcrypt.dll bcryptprimitives.dll crypt32.dll
kernel32.dll msvcrt.dll ntdll.dll ole32.dll shell32.dll userenv.dll ws2_32.dll"

# The stand-in, natively on 127.0.0.1, HTTPS with its own CA (--auto-approve: no consent pages).
t=$(now)
cargo build -q -p oauthmail-standin
rm -rf "$W"; mkdir -p "$W"
unzip -q "$ZIP" -d "$W/zip"
PKG=$W/zip/oauthmail-$VERSION-windows
echo "[windows] the DLLs from $ZIP"
STANDIN_PID=; BROWSER_PID=
cleanup() {
  set +e  # the stand-in's `wait` status (143) must not become the suite's
  [ -n "$BROWSER_PID" ] && kill "$BROWSER_PID" 2>/dev/null
  [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
  true
}
trap cleanup EXIT
target/debug/oauthmail-standin --state-dir "$W/standin" --auto-approve >"$W/standin.out" 2>"$W/standin.err" &
STANDIN_PID=$!
for _ in $(seq 100); do [ -s "$W/standin.out" ] && break; sleep 0.1; done
[ -s "$W/standin.out" ] || { echo "the stand-in did not start"; cat "$W/standin.err"; exit 1; }
INFO=$W/standin/standin.json
j() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v[0] if isinstance(v, list) else v)' "$INFO" "$1"; }
EMAIL=$(j users)
MAILBOX=$(j mailbox_dir)
MS_EMAIL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["microsoft"]["work_users"][0])' "$INFO")
echo "[windows] stand-in up ($(( $(now) - t ))s)"

# config-api.json (Gmail API) and config-smtp.json (SMTP), both trusting only the Windows store,
# and config-extra-ca.json (tls.extra_ca_file at a non-ASCII Windows path) for one run directory.
# $1 = run dir, $2 = its Windows path, $3 = the SMTP endpoint (smtps:// or smtp:// + STARTTLS).
write_configs() {
  python3 - "$INFO" "$1" "$2" "$3" <<'EOF'
import json, sys
info, run_dir, win_dir, smtp = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
# By name: Wine 8's SSL policy does not match a server named by IP address against the
# certificate's IP address entries (CERT_E_CN_NO_MATCH); Windows does. The certificate also names
# localhost, and the stand-in listens on 127.0.0.1, which localhost resolves to first here.
def host(url):
    return url.replace("://127.0.0.1:", "://localhost:")
for name, transport in (("config-api.json", "gmail_api"), ("config-smtp.json", "smtp"), ("config-extra-ca.json", "gmail_api")):
    config = {
        "provider": "google", "client_id": info["client_id"], "client_secret": info["client_secret"],
        "transport": transport,
        # the full-mail scope: one token serves both transports
        "scopes": ["openid", "email", "https://mail.google.com/"],
        "endpoints": {k: host(v) for k, v in (
            ("authorization", info["authorization_endpoint"]), ("token", info["token_endpoint"]),
            ("revocation", info["revocation_endpoint"]), ("userinfo", info["userinfo_endpoint"]),
            ("gmail_api", info["gmail_api"]), ("smtp", smtp))},
        "timeouts": {"authorize_s": 60, "connect_s": 15, "io_s": 30},
    }
    if name == "config-extra-ca.json":
        config["tls"] = {"extra_ca_file": win_dir + "\\dosar ășț\\ca șț.pem"}
    json.dump(config, open(f"{run_dir}/{name}", "w", encoding="utf-8"), ensure_ascii=False)
    if name == "config-api.json":
        # The token store (smoke.exe --store): DPAPI "user", and a copy of it read as plain JSON.
        for store_name, store in (("config-store.json", {"path": "tokens.json", "protect": "user"}),
                                  ("config-store-copy-none.json", {"path": "tokens-copy.json", "protect": "none"})):
            json.dump(dict(config, store=store), open(f"{run_dir}/{store_name}", "w", encoding="utf-8"), ensure_ascii=False)
# A service account of the stand-in, delegated gmail.send, its key file beside the configs (token_uri
# by name, as above) and config-sa.json naming it (issue 16).
import hashlib, urllib.request
def control(path, body):
    req = urllib.request.Request(info["control"] + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
key = control("/service_accounts", {"name": "smoke-" + hashlib.sha256(run_dir.encode()).hexdigest()[:10]})
control("/delegation", {"client_id": key["client_id"], "scope": "https://www.googleapis.com/auth/gmail.send"})
key["token_uri"] = host(key["token_uri"])
json.dump(key, open(f"{run_dir}/sa-key.json", "w"), separators=(",", ":"))  # smoke.c's json_str wants "k":"v"
json.dump({"provider": "google", "service_account_file": win_dir + "\\sa-key.json", "transport": "gmail_api",
           "endpoints": {"gmail_api": host(info["gmail_api"])},
           "timeouts": {"connect_s": 15, "io_s": 30}},
          open(f"{run_dir}/config-sa.json", "w", encoding="utf-8"), ensure_ascii=False)
EOF
  # --- Microsoft 365 through Graph (issue 15) -------------------------------------------------
  # config-graph.json (the stand-in's Microsoft authority and Graph, by name as above) and
  # token-graph.json: a Graph token (Mail.Send) for the stand-in's first work account, minted
  # through its control plane (POST /microsoft/tokens, as tests/c/harness.c's ms_mint does).
  # smoke.exe --flow sends once through Graph with them.
  python3 - "$INFO" "$1" <<'EOF'
import json, sys, time, urllib.request
info, run_dir = json.load(open(sys.argv[1])), sys.argv[2]
ms = info["microsoft"]
def host(url):
    return url.replace("://127.0.0.1:", "://localhost:")
user = ms["work_users"][0]
req = urllib.request.Request(info["control"] + "/microsoft/tokens", method="POST",
                             data=json.dumps({"email": user, "scope": "openid email offline_access Mail.Send"}).encode(),
                             headers={"Content-Type": "application/json"})
t = json.load(urllib.request.urlopen(req, timeout=30))
token = {"provider": "microsoft", "email": user, "scope": t["scope"], "token_type": "Bearer",
         "access_token": t["access_token"], "expires_at": int(time.time()) + int(t["expires_in"]),
         "refresh_token": t["refresh_token"]}
json.dump(token, open(f"{run_dir}/token-graph.json", "w"), separators=(",", ":"))  # smoke.c's json_str wants "k":"v"
json.dump({"provider": "microsoft", "client_id": ms["public_client_id"], "tenant": "organizations",
           "transport": "graph",
           "endpoints": {"authorization": host(ms["authority"]) + "/{tenant}/oauth2/v2.0/authorize",
                         "token": host(ms["authority"]) + "/{tenant}/oauth2/v2.0/token",
                         "graph": host(ms["graph"])},
           "timeouts": {"connect_s": 15, "io_s": 30}},
          open(f"{run_dir}/config-graph.json", "w", encoding="utf-8"), ensure_ascii=False)
EOF
  # --- end Microsoft 365 ----------------------------------------------------------------------
}

# The "browser": waits for the URL that smoke.exe's url_opener (or fakebrowser.exe, started by
# the DLL's ShellExecuteW) writes to authorize-url.txt, then follows the stand-in's redirect to the
# DLL's loopback listener, as the system browser would. $1 = run dir, $2 = result file.
browser() {
  for _ in $(seq 1200); do [ -s "$1/authorize-url.txt" ] && break; sleep 0.1; done
  [ -s "$1/authorize-url.txt" ] || { echo "no authorize-url.txt" >"$2"; return; }
  # The final URL carries the authorization code: keep only its scheme, host and path.
  curl -sS -L --max-redirs 3 --max-time 30 --cacert "$1/ca.pem" -o "$1/browser.html" -w '%{http_code} %{url_effective}\n' \
    "$(cat "$1/authorize-url.txt")" 2>&1 | sed 's/[?#].*//' >"$2" || true
}

fail=0
for tgt in $TARGETS; do
  case $tgt in
    x86_64-*) cc=x86_64-w64-mingw32-gcc; objdump=x86_64-w64-mingw32-objdump; tag=x64; smtp=$(j smtps) ;;
    i686-*)   cc=i686-w64-mingw32-gcc;   objdump=i686-w64-mingw32-objdump;   tag=x86; smtp=$(j smtp_starttls) ;;
    *) echo "unknown target $tgt"; exit 1 ;;
  esac
  echo "== $tgt"
  t=$(now)
  out=$PKG/$tag
  dll=$out/oauthmail.dll
  d=$W/run-$tgt; mkdir -p "$d/hooks"
  # The test-hooks variant (one extra export that panics inside the library) for the panic check
  # only: a test build, never shipped; everything else runs against the zip's DLL. It shares the
  # release build's target dir, so only the oauthmail crate is rebuilt.
  cargo build -q --release --target "$tgt" -p oauthmail --features test-hooks
  cp "target/$tgt/release/oauthmail.dll" "$d/hooks/"
  echo "[windows] build $tgt test-hooks variant: $(( $(now) - t ))s"
  echo "[windows] $dll: $(stat -c %s "$dll") bytes"

  # Exports: exactly the header's functions, undecorated (no _name, no name@N).
  exports=$($objdump -p "$dll" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | grep -v 'Ordinal/Name' | grep -oE '\] [^ ]+$' | cut -c3- | sort -u)
  if [ "$exports" = "$header_names" ]; then
    echo "ok   $tgt exports exactly the header's functions"
  else
    echo "FAIL $tgt exports differ from the header's functions:"; diff <(echo "$header_names") <(echo "$exports") || true
    fail=1
  fi
  # Imports: system DLLs only.
  imports=$($objdump -p "$dll" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
  echo "[windows] $tgt imports: $(echo $imports)"
  bad=$(for i in $imports; do [[ " $(echo $ALLOWED_IMPORTS) " == *" $i "* ]] || echo "$i"; done)
  if [ -z "$bad" ]; then
    echo "ok   $tgt imports Windows system DLLs only"
  else
    echo "FAIL $tgt imports DLLs that are not part of Windows: $(echo $bad)"; fail=1
  fi

  cp "$dll" "$d/"
  cp "$(j ca_file)" "$d/ca.pem"
  # -loauthmail finds the zip's liboauthmail.dll.a; smoke-lib.exe links the MSVC-format oauthmail.lib.
  $cc -std=c11 -O2 -Wall -Wextra -Werror -I"$PKG/include" -o "$d/smoke.exe" tests/windows/smoke.c -L"$out" -loauthmail -lversion -lcrypt32
  $cc -std=c11 -O2 -Wall -Wextra -Werror -I"$PKG/include" -o "$d/smoke-lib.exe" tests/windows/smoke.c "$out/oauthmail.lib" -lversion -lcrypt32
  for exe in smoke.exe smoke-lib.exe; do
    # grep reads all of objdump's output (no -q): with pipefail, an early exit would SIGPIPE objdump.
    if $objdump -p "$d/$exe" | grep 'DLL Name: oauthmail.dll' >/dev/null; then echo "ok   $tgt $exe imports oauthmail.dll"; else echo "FAIL $tgt $exe does not import oauthmail.dll"; fail=1; fi
  done
  # Test-only: Wine 8 lacks bcryptprimitives.dll!ProcessPrng, which Rust's std imports. Never shipped.
  $cc -O2 -shared -Wl,--kill-at -o "$d/bcryptprimitives.dll" tests/windows/bcryptprimitives.c -ladvapi32
  $cc -std=c11 -O2 -Wall -Wextra -Werror -o "$d/fakebrowser.exe" tests/windows/fakebrowser.c
  cp "$d/smoke.exe" "$d/bcryptprimitives.dll" "$d/hooks/"

  case $tgt in
    x86_64-*) write_configs "$d" "Z:$(echo "$d" | tr / '\\')" "$smtp" ;;
    i686-*)   write_configs "$d" 'Z:\srv\win' "$smtp" ;;
  esac
  t=$(now)
  # Six runs: the panic check needs the test-hooks DLL; Wine's default chain engine keeps the
  # Root store it first opened, so the "CA not trusted" checks and the trusted flows need separate
  # processes; the system-browser and token-store flows need their own too (a fresh
  # authorize-url.txt); the "CA not trusted" checks run once more linked through oauthmail.lib
  # instead of the .dll.a.
  for run in panic untrusted untrusted-lib flow system-browser store; do
    rd=$d; exe=smoke.exe
    case $run in
      panic) args=(--panic); rd=$d/hooks ;;
      untrusted) args=(--untrusted "$EMAIL") ;;
      untrusted-lib) args=(--untrusted "$EMAIL"); exe=smoke-lib.exe ;;
      *) args=("--$run" "$EMAIL" --trust-ca ca.pem); rm -f "$d/authorize-url.txt"
         browser "$d" "$d/browser-$run.txt" & BROWSER_PID=$! ;;
    esac
    case $tgt in
      x86_64-*)
        (cd "$rd" && WINEPREFIX=$CACHE/wine64 WINEDEBUG=fixme-all WINEDLLOVERRIDES="mscoree,mshtml=" \
          timeout 240 wine "$exe" "${args[@]}"; WINEPREFIX=$CACHE/wine64 timeout 30 wineserver -w) \
          >"$d/$run.log" 2>"$d/$run.err" || true ;;
      i686-*)
        WINEDEBUG=fixme-all timeout 240 bash tests/windows/wine32-chroot.sh "$ROOT32" "$rd" "$exe" "${args[@]}" \
          >"$d/$run.log" 2>"$d/$run.err" || true ;;
    esac
    tr -d '\r' <"$d/$run.log" >"$d/$run.txt"
    cat "$d/$run.txt"
    if grep -qE '^[1-9][0-9]* passed, 0 failed$' "$d/$run.txt"; then
      echo "ok   $tgt $exe --${run%-lib} under Wine"
    else
      echo "FAIL $tgt $exe --${run%-lib} under Wine; wine's stderr:"; tail -n 30 "$d/$run.err"; fail=1
    fi
    case $run in panic|untrusted*) continue ;; esac
    kill "$BROWSER_PID" 2>/dev/null || true; wait "$BROWSER_PID" 2>/dev/null || true; BROWSER_PID=
    # The browser's last page is the DLL's own page after consent (HTTP 200 from the loopback port).
    if grep -qE '^200 http://127\.0\.0\.1:[0-9]+/$' "$d/browser-$run.txt" 2>/dev/null; then
      echo "ok   $tgt --$run: the browser landed on the DLL's loopback page: $(cat "$d/browser-$run.txt")"
    else
      echo "FAIL $tgt --$run: browser: $(cat "$d/browser-$run.txt" 2>/dev/null)"; fail=1
    fi
  done
  echo "[windows] wine runs $tgt: $(( $(now) - t ))s"
  if python3 tests/windows/check_mailbox.py "$MAILBOX" "$tag" "$EMAIL" "$MS_EMAIL"; then
    echo "ok   $tgt messages in the stand-in's mailbox"
  else
    echo "FAIL $tgt messages in the stand-in's mailbox"; fail=1
  fi

  # ---- [cli] oauthmail.exe (x64, from the zip) under Wine (issue 18) ----
  # The shipped tool starts, parses, prints (UTF-8, also Romanian), reads a Windows path and exits
  # with the library's answer, judged by its output (never by wine's exit status): --version, the
  # Romanian --help, and `authorize` with config-sa.json refused with the service-account hint.
  # Then the whole flow, unpatched: `authorize --no-browser` (the "browser" follows the address the
  # tool prints on stderr), `send` over the Gmail API and over SMTP with the token document it
  # saved, both messages checked in the stand-in's mailbox. The CA goes into the Root store first
  # (smoke.exe --root, TEST-ONLY) and out again at the end. Revocation: the verifier asks the chain
  # engine for the server certificate's revocation status, and Wine 8, unlike Windows, does not
  # tolerate "unknown" (it ignores CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS); the stand-in's
  # certificate names a CRL distribution point on its control plane (tests/standin/README.md),
  # which Wine's cryptnet fetches over loopback: "not revoked". x64 only; kept apart from the
  # smoke.exe runs above.
  if [ "$tag" = x64 ]; then
    t=$(now)
    if [ -s "$out/oauthmail.exe" ]; then
      cp "$out/oauthmail.exe" "$d/"
      cli() {  # $1 = log name, then the tool's arguments; output in $d/$1.txt and $d/$1.errtxt
        local name=$1; shift
        # LC_ALL: Wine converts the non-ASCII arguments (subject, attachment path) from UTF-8.
        (cd "$d" && LC_ALL=C.UTF-8 WINEPREFIX=$CACHE/wine64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
          timeout 120 wine oauthmail.exe "$@"; WINEPREFIX=$CACHE/wine64 timeout 30 wineserver -w) \
          >"$d/$name.log" 2>"$d/$name.err" || true
        tr -d '\r' <"$d/$name.log" >"$d/$name.txt"
        tr -d '\r' <"$d/$name.err" >"$d/$name.errtxt"
      }
      cli cli-version --version
      if [ "$(cat "$d/cli-version.txt")" = "oauthmail $VERSION" ]; then
        echo "ok   $tgt oauthmail.exe --version under Wine: $(cat "$d/cli-version.txt")"
      else
        echo "FAIL $tgt oauthmail.exe --version under Wine: $(head -c 300 "$d/cli-version.txt") $(tail -n 5 "$d/cli-version.errtxt")"; fail=1
      fi
      cli cli-help-ro --lang ro send --help
      if grep -q '^Utilizare: oauthmail' "$d/cli-help-ro.txt" && grep -q 'Un destinatar („Nume' "$d/cli-help-ro.txt"; then
        echo "ok   $tgt oauthmail.exe --lang ro send --help under Wine is Romanian UTF-8"
      else
        echo "FAIL $tgt oauthmail.exe --lang ro send --help under Wine: $(head -c 300 "$d/cli-help-ro.txt")"; fail=1
      fi
      cli cli-sa-authorize --lang en --config config-sa.json authorize --no-browser
      if grep -q '^Error: a client with service_account_file needs no authorization' "$d/cli-sa-authorize.errtxt" \
        && grep -q '^What to do: ' "$d/cli-sa-authorize.errtxt"; then
        echo "ok   $tgt oauthmail.exe authorize with a service-account key at a Windows path is refused with its hint"
      else
        echo "FAIL $tgt oauthmail.exe authorize --config config-sa.json: $(tail -n 5 "$d/cli-sa-authorize.errtxt")"; fail=1
      fi

      # --- authorize + send (issue 18) ---
      root() {  # $1 = add | remove: the stand-in's CA in the current user's Root store
        (cd "$d" && WINEPREFIX=$CACHE/wine64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
          timeout 60 wine smoke.exe --root "$1" ca.pem; WINEPREFIX=$CACHE/wine64 timeout 30 wineserver -w) \
          2>&1 | tr -d '\r' >"$d/cli-root-$1.txt" || true
        grep -qE '^[1-9][0-9]* passed, 0 failed$' "$d/cli-root-$1.txt"
      }
      # The "browser" for `authorize --no-browser`: the address the tool prints on stderr.
      cli_browser() {  # $1 = the tool's stderr file, $2 = result file
        local url=
        for _ in $(seq 600); do
          url=$(tr -d '\r' <"$1" 2>/dev/null | grep -m1 -oE '^https://localhost:[0-9]+/o/oauth2/v2/auth\?[^ ]+' || true)
          [ -n "$url" ] && break; sleep 0.1
        done
        [ -n "$url" ] || { echo "no address on the tool's stderr" >"$2"; return; }
        # The final URL carries the authorization code: keep only its scheme, host and path.
        curl -sS -L --max-redirs 3 --max-time 30 --cacert "$d/ca.pem" -o "$d/cli-browser.html" -w '%{http_code} %{url_effective}\n' \
          "$url" 2>&1 | sed 's/[?#].*//' >"$2" || true
      }
      crl_before=$(grep -c ' GET /crl/standin.crl -> 200' "$W/standin/standin.log" || true)
      if root add; then
        echo "ok   $tgt stand-in CA added to the Root store for oauthmail.exe"
        rm -f "$d/token-cli.json" "$d/cli-authorize.err"
        cli_browser "$d/cli-authorize.err" "$d/cli-browser.txt" & BROWSER_PID=$!
        cli cli-authorize --lang en --config config-api.json --token-file token-cli.json authorize --no-browser --login-hint "$EMAIL"
        wait "$BROWSER_PID" 2>/dev/null || true; BROWSER_PID=
        if grep -qx "Authorized: $EMAIL" "$d/cli-authorize.txt" && grep -q '^Token document saved to token-cli.json' "$d/cli-authorize.txt" \
          && grep -qE '^200 http://127\.0\.0\.1:[0-9]+/$' "$d/cli-browser.txt" && [ -s "$d/token-cli.json" ]; then
          echo "ok   $tgt oauthmail.exe authorize under Wine over HTTPS, revocation checked (browser: $(cat "$d/cli-browser.txt"))"
        else
          echo "FAIL $tgt oauthmail.exe authorize: $(head -c 300 "$d/cli-authorize.txt") | $(grep -v '^https://' "$d/cli-authorize.errtxt" | tail -n 5) | browser: $(cat "$d/cli-browser.txt")"; fail=1
        fi
        for transport in gmail_api smtp; do
          cli "cli-send-$transport" --lang en --config config-api.json --token-file token-cli.json send --transport "$transport" \
            --to 'Ion Popescu <ion@example.ro>' --subject "Factură oauthmail.exe $tag $transport — șță" \
            --text 'Factura este atașată.' --attach 'dosar ășț\factură ășț.txt'
          if grep -qE '^Sent\. Message-ID: <[^>]+>$' "$d/cli-send-$transport.txt"; then
            echo "ok   $tgt oauthmail.exe send --transport $transport under Wine: $(cat "$d/cli-send-$transport.txt")"
          else
            echo "FAIL $tgt oauthmail.exe send --transport $transport: $(head -c 300 "$d/cli-send-$transport.txt") $(tail -n 5 "$d/cli-send-$transport.errtxt")"; fail=1
          fi
        done
        # The attachment is the file smoke.exe wrote at the non-ASCII path (make_attachment).
        if python3 - "$MAILBOX" "$tag" "$EMAIL" <<'EOF'
import email, email.policy, json, pathlib, sys
mailbox, tag, user = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
want = f"Factura de test ({tag}) ășț\r\n".encode("utf-8")
bad = 0
for transport in ("gmail_api", "smtp"):
    subject = f"Factură oauthmail.exe {tag} {transport} — șță"
    found = []
    for side in sorted(mailbox.glob("*.json")):
        meta = json.loads(side.read_text(encoding="utf-8"))
        msg = email.message_from_bytes((mailbox / meta["eml"]).read_bytes(), policy=email.policy.default)
        if str(msg["subject"]) == subject:
            found.append((meta, msg))
    atts = [a for _, msg in found for a in msg.iter_attachments()]
    names = [a.get_filename() for a in atts]
    ok = (len(found) == 1 and found[0][0]["transport"] == transport and found[0][0]["account"] == user
          and found[0][0]["envelope"]["to"] == ["ion@example.ro"]
          and names == ["factură ășț.txt"] and atts[0].get_payload(decode=True) == want)
    detail = f", over {found[0][0]['transport']} as {found[0][0]['account']}, attachments {names}" if found else ""
    print(("ok   " if ok else "FAIL ") + f"{tag} oauthmail.exe {transport}: {len(found)} message(s) {subject!r}{detail}")
    bad += not ok
sys.exit(1 if bad else 0)
EOF
        then
          echo "ok   $tgt oauthmail.exe's messages in the stand-in's mailbox"
        else
          echo "FAIL $tgt oauthmail.exe's messages in the stand-in's mailbox"; fail=1
        fi
        crl_after=$(grep -c ' GET /crl/standin.crl -> 200' "$W/standin/standin.log" || true)
        # Information only: Wine caches a certificate's revocation status and a URL's CRL in the prefix.
        echo "[windows] the chain engine fetched the stand-in's CRL $(( crl_after - crl_before )) time(s) in these runs"
        if root remove; then
          echo "ok   $tgt stand-in CA removed from the Root store"
        else
          echo "FAIL $tgt stand-in CA not removed from the Root store: $(tail -n 3 "$d/cli-root-remove.txt")"; fail=1
        fi
      else
        echo "FAIL $tgt stand-in CA not added to the Root store: $(tail -n 3 "$d/cli-root-add.txt")"; fail=1
      fi
    else
      echo "FAIL $tgt: $out/oauthmail.exe is missing from the zip"; fail=1
    fi
    echo "[windows] oauthmail.exe runs $tgt: $(( $(now) - t ))s"
  fi
  # ---- [cli] end ----
done
echo "[windows] total: $(( $(now) - t_all ))s"
exit $fail
