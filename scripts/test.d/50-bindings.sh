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

"$ROOT/target/debug/oauthmail-standin" --state-dir "$WORK/standin" --auto-approve >"$WORK/standin.out" 2>&1 &
STANDIN_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/standin/standin.json" ] && break; sleep 0.1; done
[ -s "$WORK/standin/standin.json" ] || { echo "the stand-in did not start"; cat "$WORK/standin.out"; exit 1; }

python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" >"$WORK/config.json"
python3 bindings/tests/standin_config.py "$WORK/standin/standin.json" smtp >"$WORK/config-smtp.json"
read -r USER1 CA MAILBOX < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["users"][0], s["ca_file"], s["mailbox_dir"])' "$WORK/standin/standin.json")
printf 'Conținut: ăâîșț — factura 123\n' >"$WORK/factura-123.txt"

export OAUTHMAIL_TEST_CONFIG=$WORK/config.json OAUTHMAIL_TEST_USER=$USER1 OAUTHMAIL_TEST_CA=$CA OAUTHMAIL_REPO=$ROOT
export LD_LIBRARY_PATH=$ROOT/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OAUTHMAIL_LIBRARY=$ROOT/target/debug/liboauthmail.so

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
export CA WORK USER1 MAILBOX ROOT
example() {
  local tag=$1 transport=${EXAMPLE_TRANSPORT:-gmail_api} config=$WORK/config.json; shift
  [ "$transport" = smtp ] && config=$WORK/config-smtp.json
  OAUTHMAIL_HEADLESS_CA=$CA "$@" "$config" "$USER1" "$WORK/factura-123.txt" >"$WORK/$tag.id" || return 1
  local id; id=$(tail -n 1 "$WORK/$tag.id")
  echo "sent $id"
  python3 "$ROOT/bindings/tests/check_mailbox.py" "$MAILBOX" "$id" "$tag" "$WORK/factura-123.txt" "$USER1" "$transport"
}
export -f example

# The mailbox check itself must catch mojibake and wrong bytes, or the example steps prove nothing.
step checker selftest python3 bindings/tests/check_mailbox.py selftest

# ---- Python (ctypes) ----
step python tests bash -c 'cd bindings/python && python3 -m unittest -v test_oauthmail'
step python example-send bash -c 'example "$@"' _ python python3 bindings/python/example.py
EXAMPLE_TRANSPORT=smtp step python example-send-smtp bash -c 'example "$@"' _ python python3 bindings/python/example.py
# The package as a wheel lays it out: the library bundled inside bindings/python/oauthmail/, found
# without OAUTHMAIL_LIBRARY or LD_LIBRARY_PATH.
step python bundled-library bash -c '
  d=$(mktemp -d) && trap "rm -rf $d" EXIT && cp -r bindings/python/oauthmail "$d/" &&
  cp target/debug/liboauthmail.so "$d/oauthmail/" && cd "$d" &&
  env -u OAUTHMAIL_LIBRARY -u LD_LIBRARY_PATH python3 -c "import oauthmail, sys; lib = oauthmail.load_library(); print(oauthmail.version(), lib._name); sys.exit(lib._name != \"$d/oauthmail/liboauthmail.so\")"'

# ---- C++17 (header-only) ----
CXX_FLAGS=(-std=c++17 -Wall -Wextra -Werror -pthread -Iinclude -Ibindings/cpp -Ltarget/debug -loauthmail "-Wl,-rpath,$ROOT/target/debug")
if step cpp build bash -c "g++ bindings/cpp/test.cpp ${CXX_FLAGS[*]} -o $OUT/cpp_test && g++ bindings/cpp/example.cpp ${CXX_FLAGS[*]} -o $OUT/cpp_example"; then
  step cpp tests "$OUT/cpp_test"
  step cpp example-send bash -c 'example "$@"' _ cpp "$OUT/cpp_example"
fi

# ---- C# (Mono mcs: the .NET Framework-compatible code path) ----
MCS=(mcs -langversion:7 -codepage:utf8 -warnaserror -nologo)
if step csharp build bash -c "${MCS[*]} -out:$OUT/cs_tests.exe bindings/csharp/OAuthMail.cs bindings/csharp/Tests.cs && ${MCS[*]} -out:$OUT/cs_example.exe bindings/csharp/OAuthMail.cs bindings/csharp/Example.cs"; then
  step csharp tests mono "$OUT/cs_tests.exe"
  # The NuGet layout without a deps.json: <assembly dir>/runtimes/linux-x64/native/, no LD_LIBRARY_PATH.
  step csharp runtimes-rid-native bash -c '
    d=$(mktemp -d) && trap "rm -rf $d" EXIT && mkdir -p "$d/runtimes/linux-x64/native" &&
    cp "$1" "$d/" && cp target/debug/liboauthmail.so "$d/runtimes/linux-x64/native/" &&
    env -u LD_LIBRARY_PATH mono "$d/cs_tests.exe" where | tee "$d/out" &&
    grep -qx "$d/runtimes/linux-x64/native/liboauthmail.so" "$d/out"' _ "$OUT/cs_tests.exe"
  step csharp example-send bash -c 'example "$@"' _ csharp mono "$OUT/cs_example.exe"
fi

# ---- Delphi dialect with Free Pascal: AnsiString (-Mdelphi) and UnicodeString (-Mdelphiunicode) ----
for mode in delphi delphiunicode; do
  [ $mode = delphi ] && tag=pascal-ansi || tag=pascal-unicode
  dir=$OUT/pas-$mode; mkdir -p "$dir"
  FPC=(fpc -M$mode -vw -Fubindings/pascal "-FU$dir" "-FE$dir" -Fltarget/debug)
  if step $tag build bash -c "${FPC[*]} bindings/pascal/test_oauthmail.dpr && ${FPC[*]} bindings/pascal/example.dpr && ${FPC[*]} bindings/pascal/no_cthreads.dpr"; then
    step $tag tests "$dir/test_oauthmail"
    step $tag no-cthreads-refused "$dir/no_cthreads"
    step $tag example-send bash -c 'example "$@"' _ $tag "$dir/example"
  fi
done

echo
for b in checker python cpp csharp pascal-ansi pascal-unicode; do
  printf '[bindings] %-16s %s passed, %s failed\n' "$b" "${PASS[$b]:-0}" "${FAIL[$b]:-0}"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
