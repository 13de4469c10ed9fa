#!/usr/bin/env bash
# timeout: 600
# The host-language bindings (bindings/): C++, C# (Mono), Delphi-dialect Free Pascal (-Mdelphi and
# -Mdelphiunicode) and Python. Builds the library and the stand-in, starts the stand-in
# (--auto-approve), then per binding: builds, runs its tests (argument checks, callbacks on other
# threads, cancel from another thread, bad input), runs its example (authorize headlessly + send a
# message with an attachment and Romanian diacritics) and checks the stand-in's mailbox holds the
# message intact. Runs under LC_ALL=C: no binding may depend on the locale for UTF-8.
# Prints one line per step, per-binding totals and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export LC_ALL=C

cargo build -q -p oauthmail -p oauthmail-standin || { echo "cargo build failed"; exit 1; }

OUT=$ROOT/target/bindings
mkdir -p "$OUT/logs"
WORK=$(mktemp -d)
STANDIN_PID=
cleanup() {
  if [ -n "$STANDIN_PID" ]; then kill "$STANDIN_PID" 2>/dev/null; wait "$STANDIN_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# office@firma.ro is the account of the README programs (bindings/README.md).
"$ROOT/target/debug/oauthmail-standin" --state-dir "$WORK/standin" --auto-approve \
  --test-user erp.test@gmail.com --test-user second.test@gmail.com --test-user office@firma.ro >"$WORK/standin.out" 2>&1 &
STANDIN_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/standin/standin.json" ] && break; sleep 0.1; done
[ -s "$WORK/standin/standin.json" ] || { echo "the stand-in did not start"; cat "$WORK/standin.out"; exit 1; }

python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" >"$WORK/config.json"
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" smtp >"$WORK/config-smtp.json"
# The token store, a Workspace service account and Microsoft 365 (issues 12, 15, 16): each binding's
# tests send through {"account": ...} on config-store.json, {"subject": ...} on config-sa.json
# (a stand-in service account delegated both Gmail scopes), and authorize + send on
# config-ms-graph.json / config-ms-smtp.json. Absent variables mean "not configured": the tests
# then fail, never skip.
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" store "$WORK/tokens.json" >"$WORK/config-store.json"
python3 - "$WORK/standin/standin.json" "$WORK/sa-key.json" <<'PY' || { echo "service account set-up failed"; exit 1; }
import json, sys, urllib.request
s = json.load(open(sys.argv[1]))
def control(path, body):
    req = urllib.request.Request(s["control"] + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
key = control("/service_accounts", {"name": "bindings-mailer"})
control("/delegation", {"client_id": key["client_id"],
                        "scope": "https://www.googleapis.com/auth/gmail.send https://mail.google.com/"})
json.dump(key, open(sys.argv[2], "w"))
PY
chmod 600 "$WORK/sa-key.json"
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" sa "$WORK/sa-key.json" >"$WORK/config-sa.json"
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" microsoft-graph >"$WORK/config-ms-graph.json"
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" microsoft-smtp >"$WORK/config-ms-smtp.json"
export OAUTHMAIL_TEST_CONFIG_STORE=$WORK/config-store.json OAUTHMAIL_TEST_CONFIG_SA=$WORK/config-sa.json
export OAUTHMAIL_TEST_SA_SUBJECT=facturi@firma.ro OAUTHMAIL_TEST_MS_USER=erp.test@contoso.onmicrosoft.com
export OAUTHMAIL_TEST_CONFIG_MS_GRAPH=$WORK/config-ms-graph.json OAUTHMAIL_TEST_CONFIG_MS_SMTP=$WORK/config-ms-smtp.json

read -r USER1 CA MAILBOX CONTROL < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["users"][0], s["ca_file"], s["mailbox_dir"], s["control"])' "$WORK/standin/standin.json")
printf 'Conținut: ăâîșț — factura 123\n' >"$WORK/factura-123.txt"

export OAUTHMAIL_TEST_CONFIG=$WORK/config.json OAUTHMAIL_TEST_USER=$USER1 OAUTHMAIL_TEST_CA=$CA OAUTHMAIL_REPO=$ROOT
export OAUTHMAIL_TEST_CONTROL=$CONTROL OAUTHMAIL_TEST_MAILBOX=$MAILBOX
export LD_LIBRARY_PATH=$ROOT/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OAUTHMAIL_LIBRARY=$ROOT/target/debug/liboauthmail.so

# OAUTHMAIL_BINDINGS="python csharp" runs only those sections (while working on one binding).
want() { [ -z "${OAUTHMAIL_BINDINGS:-}" ] || [[ " $OAUTHMAIL_BINDINGS " == *" $1 "* ]]; }

declare -A PASS FAIL
passed=0; failed=0

# step BINDING NAME CMD...: runs CMD (bounded), records the result, shows the log on failure.
step() {
  local binding=$1 name=$2; shift 2
  local log="$OUT/logs/$binding-$name.log" t0=$SECONDS rc
  timeout --kill-after=5 120 "$@" >"$log" 2>&1; rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed+1)); PASS[$binding]=$(( ${PASS[$binding]:-0} + 1 ))
    printf '[bindings] %-16s %-26s ok     %3ss\n' "$binding" "$name" $((SECONDS-t0))
  else
    failed=$((failed+1)); FAIL[$binding]=$(( ${FAIL[$binding]:-0} + 1 ))
    printf '[bindings] %-16s %-26s FAILED %3ss (exit %s)\n' "$binding" "$name" $((SECONDS-t0)) "$rc"
    sed 's/^/    | /' "$log" | tail -n 40
  fi
  return $rc
}

# example TAG CMD...: runs the example headlessly (Gmail API transport; EXAMPLE_TRANSPORT=smtp
# for SMTP), then checks the mailbox for its message.
export CA WORK USER1 MAILBOX ROOT OUT
example() {
  local tag=$1 transport=${EXAMPLE_TRANSPORT:-gmail_api} config=$WORK/config.json; shift
  [ "$transport" = smtp ] && config=$WORK/config-smtp.json
  OAUTHMAIL_HEADLESS_CA=$CA "$@" "$config" "$USER1" "$WORK/factura-123.txt" >"$WORK/$tag.id" || return 1
  local id; id=$(tail -n 1 "$WORK/$tag.id")
  echo "sent $id"
  python3 "$ROOT/bindings/tests/check_mailbox.py" "$MAILBOX" "$id" "$tag" "$WORK/factura-123.txt" "$USER1" "$transport"
}
export -f example

# readme CMD...: runs a README program (bindings/README.md) as its developer would, in a fresh
# directory holding oauthmail.json and factură-123.pdf, with the system browser replaced by
# bindings/tests/fake_browser.sh ($BROWSER); then checks the mailbox for its message.
printf 'Factura 123: ăâîșț\n' >"$WORK/factură-123.pdf"
readme() {
  local d; d=$(mktemp -d "$WORK/readme.XXXX")
  cp "$WORK/config.json" "$d/oauthmail.json"; cp "$WORK/factură-123.pdf" "$d/"
  (cd "$d" && BROWSER="$ROOT/bindings/tests/fake_browser.sh" OAUTHMAIL_HEADLESS_CA=$CA "$@") >"$d/out" || { cat "$d/out"; return 1; }
  local id; id=$(tail -n 1 "$d/out")
  echo "sent $id"
  python3 "$ROOT/bindings/tests/check_mailbox.py" readme "$MAILBOX" "$id" "$d/factură-123.pdf" office@firma.ro
}
# not_installed CMD...: runs a program with no liboauthmail anywhere it looks (no
# OAUTHMAIL_LIBRARY, no LD_LIBRARY_PATH, an empty directory): it must start, and end with exit
# status 1 and a message saying the library is not installed, not with a crash or a loader error.
not_installed() {
  local d rc; d=$(mktemp -d "$WORK/noinst.XXXX")
  cp "$WORK/config.json" "$d/oauthmail.json"
  (cd "$d" && env -u OAUTHMAIL_LIBRARY -u LD_LIBRARY_PATH "$@") >"$d/out" 2>&1; rc=$?
  cat "$d/out"
  [ $rc -eq 1 ] || { echo "exit status $rc, expected 1"; return 1; }
  grep -qi "not installed" "$d/out" || { echo "no 'not installed' message"; return 1; }
}
export -f readme not_installed

# The mailbox check itself must catch mojibake and wrong bytes, or the example steps prove nothing.
step checker selftest python3 bindings/tests/check_mailbox.py selftest
# The programs bindings/README.md shows are the files the readme-program steps run.
step checker readme-programs python3 bindings/tests/readme_programs.py bindings/README.md

# ---- Python (ctypes) ----
if want python; then
step python tests bash -c 'cd bindings/python && python3 -m unittest -v test_oauthmail'
step python mypy-strict python3 -m mypy --strict --cache-dir "$OUT/mypy-cache" bindings/python/oauthmail \
  bindings/python/readme_example.py
step python readme-program bash -c 'readme python3 "$ROOT/bindings/python/readme_example.py"'
step python not-installed bash -c 'not_installed python3 "$ROOT/bindings/python/readme_example.py"'
step python example-send bash -c 'example "$@"' _ python python3 bindings/python/example.py
EXAMPLE_TRANSPORT=smtp step python example-send-smtp bash -c 'example "$@"' _ python python3 bindings/python/example.py
# The package as a wheel lays it out: the library bundled inside bindings/python/oauthmail/, found
# without OAUTHMAIL_LIBRARY or LD_LIBRARY_PATH.
step python bundled-library bash -c '
  d=$(mktemp -d) && trap "rm -rf $d" EXIT && cp -r bindings/python/oauthmail "$d/" &&
  cp target/debug/liboauthmail.so "$d/oauthmail/" && cd "$d" &&
  env -u OAUTHMAIL_LIBRARY -u LD_LIBRARY_PATH python3 -c "import oauthmail, sys; lib = oauthmail.load_library(); print(oauthmail.version(), lib._name); sys.exit(lib._name != \"$d/oauthmail/liboauthmail.so\")"'
fi

# ---- C++17 (header-only) ----
if want cpp; then
CXX_FLAGS=(-std=c++17 -Wall -Wextra -Werror -pthread -Iinclude -Ibindings/cpp -Ltarget/debug -loauthmail "-Wl,-rpath,$ROOT/target/debug")
# OAUTHMAIL_DYNAMIC programs link no liboauthmail (checked with ldd): they load it at the first call.
CXX_DYN=(-std=c++17 -Wall -Wextra -Werror -pthread -Iinclude -Ibindings/cpp -ldl)
if step cpp build bash -c "g++ bindings/cpp/test.cpp ${CXX_FLAGS[*]} -o $OUT/cpp_test && g++ bindings/cpp/example.cpp ${CXX_FLAGS[*]} -o $OUT/cpp_example && g++ bindings/cpp/readme_example.cpp ${CXX_DYN[*]} -o $OUT/cpp_readme && g++ bindings/cpp/test_dynamic.cpp ${CXX_DYN[*]} -o $OUT/cpp_test_dynamic && ! ldd $OUT/cpp_readme | grep -q oauthmail"; then
  step cpp tests "$OUT/cpp_test"
  step cpp example-send bash -c 'example "$@"' _ cpp "$OUT/cpp_example"
  step cpp dynamic-loading bash -c 'gcc -shared -fPIC -o "$OUT/old_liboauthmail.so" bindings/tests/old_library.c && env -u OAUTHMAIL_LIBRARY "$OUT/cpp_test_dynamic" "$OUT/old_liboauthmail.so" "$OAUTHMAIL_LIBRARY"'
  # A library with every entry point but the newer ones (check, progress, the token store): it
  # loads, and only a call to one of those throws NotInstalled naming it.
  step cpp dynamic-older-library bash -c 'gcc -shared -fPIC -Wall -Wextra -Werror -o "$OUT/older_liboauthmail.so" bindings/cpp/older_library.c && env -u OAUTHMAIL_LIBRARY "$OUT/cpp_test_dynamic" older "$OUT/older_liboauthmail.so"'
  step cpp readme-program bash -c 'readme "$OUT/cpp_readme"'
  step cpp not-installed bash -c 'not_installed "$OUT/cpp_readme"'
fi
fi

# ---- C# (Mono mcs: the .NET Framework-compatible code path) ----
if want csharp; then
MCS=(mcs -langversion:7 -codepage:utf8 -warnaserror -nologo)
mkdir -p "$OUT/cs_readme"
if step csharp build bash -c "${MCS[*]} -out:$OUT/cs_tests.exe bindings/csharp/OAuthMail.cs bindings/csharp/Tests.cs && ${MCS[*]} -out:$OUT/cs_example.exe bindings/csharp/OAuthMail.cs bindings/csharp/Example.cs && ${MCS[*]} -out:$OUT/cs_readme/ReadmeExample.exe bindings/csharp/OAuthMail.cs bindings/csharp/ReadmeExample.cs"; then
  step csharp tests mono "$OUT/cs_tests.exe"
  # The NuGet layout without a deps.json: <assembly dir>/runtimes/linux-x64/native/, no LD_LIBRARY_PATH.
  step csharp runtimes-rid-native bash -c '
    d=$(mktemp -d) && trap "rm -rf $d" EXIT && mkdir -p "$d/runtimes/linux-x64/native" &&
    cp "$1" "$d/" && cp target/debug/liboauthmail.so "$d/runtimes/linux-x64/native/" &&
    env -u LD_LIBRARY_PATH mono "$d/cs_tests.exe" where | tee "$d/out" &&
    grep -qx "$d/runtimes/linux-x64/native/liboauthmail.so" "$d/out"' _ "$OUT/cs_tests.exe"
  step csharp example-send bash -c 'example "$@"' _ csharp mono "$OUT/cs_example.exe"
  step csharp readme-program bash -c 'readme mono "$OUT/cs_readme/ReadmeExample.exe"'
  step csharp not-installed bash -c 'not_installed mono "$OUT/cs_readme/ReadmeExample.exe"'
fi
fi

# ---- Delphi dialect with Free Pascal: AnsiString (-Mdelphi) and UnicodeString (-Mdelphiunicode) ----
# The unit loads the library on first use: nothing links -loauthmail, and the README program run
# with no library anywhere must report EOAuthMailNotInstalled. old_library.c is a library too old
# for the unit (only oauthmail_version, "0.0.9"); base_library.c has only the functions the unit
# requires (no oauthmail_check, _set_progress, _store_list, _store_remove): it loads, and calling
# an optional one raises EOAuthMailNotInstalled.
if want pascal; then
  gcc -shared -fPIC -o "$OUT/old_liboauthmail.so" bindings/tests/old_library.c
  gcc -shared -fPIC -o "$OUT/base_liboauthmail.so" bindings/pascal/base_library.c
fi
for mode in delphi delphiunicode; do
  want pascal || continue
  [ $mode = delphi ] && tag=pascal-ansi || tag=pascal-unicode
  dir=$OUT/pas-$mode; mkdir -p "$dir"
  FPC=(fpc -M$mode -vw -Fubindings/pascal "-FU$dir" "-FE$dir")
  if step $tag build bash -c "${FPC[*]} bindings/pascal/test_oauthmail.dpr && ${FPC[*]} bindings/pascal/example.dpr && ${FPC[*]} bindings/pascal/no_cthreads.dpr && ${FPC[*]} bindings/pascal/test_component.dpr && ${FPC[*]} bindings/pascal/readme_example.dpr && ! ldd $dir/readme_example | grep -q oauthmail"; then
    step $tag tests "$dir/test_oauthmail"
    step $tag no-cthreads-refused "$dir/no_cthreads"
    step $tag optional-functions "$dir/test_oauthmail" older "$OUT/base_liboauthmail.so"
    step $tag example-send bash -c 'example "$@"' _ $tag "$dir/example"
    ctag=${tag/pascal-/pascal-component-}
    # test_component prints 'TAG ACCOUNT TRANSPORT MESSAGE-ID' per message (Gmail API, the token
    # store's account, the service account's subject, Microsoft Graph and Outlook SMTP): each is
    # checked in the mailbox.
    step $tag component bash -c 'OAUTHMAIL_HEADLESS_CA=$CA "$1" "$WORK/config.json" "$USER1" "$WORK/factura-123.txt" "$OUT/old_liboauthmail.so" >"$WORK/$2.ids" || exit 1
      [ "$(wc -l <"$WORK/$2.ids")" -eq 5 ] || { echo "expected 5 messages to check:"; cat "$WORK/$2.ids"; exit 1; }
      while read -r t account transport id; do
        python3 "$ROOT/bindings/tests/check_mailbox.py" "$MAILBOX" "$id" "$t" "$WORK/factura-123.txt" "$account" "$transport" || exit 1
      done <"$WORK/$2.ids"' _ "$dir/test_component" "$ctag"
    step $tag readme-program bash -c 'readme "$1"' _ "$dir/readme_example"
    step $tag not-installed bash -c 'not_installed "$1"' _ "$dir/readme_example"
  fi
done

# Delphi 7's ANSI branches: -Mdelphi with -dOAUTHMAIL_MODEL_DELPHI7 (see test_delphi7.dpr for
# what is and is not modelled); Windows-1250 text sent through the component, checked in the mailbox.
if want pascal; then
  dir=$OUT/pas-delphi7; mkdir -p "$dir"
  if step pascal-delphi7-model build fpc -Mdelphi -dOAUTHMAIL_MODEL_DELPHI7 -vw -Fubindings/pascal "-FU$dir" "-FE$dir" bindings/pascal/test_delphi7.dpr; then
    step pascal-delphi7-model send-cp1250 bash -c 'OAUTHMAIL_TEST_CA=$CA "$1" "$WORK/config.json" "$USER1" "$WORK/factura-123.txt" >"$WORK/d7.id" &&
      python3 "$ROOT/bindings/tests/check_mailbox.py" "$MAILBOX" "$(tail -n 1 "$WORK/d7.id")" pascal-delphi7-model "$WORK/factura-123.txt" "$USER1" gmail_api' _ "$dir/test_delphi7"
  fi
fi

echo
for b in checker python cpp csharp pascal-ansi pascal-unicode pascal-delphi7-model; do
  printf '[bindings] %-16s %s passed, %s failed\n' "$b" "${PASS[$b]:-0}" "${FAIL[$b]:-0}"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
