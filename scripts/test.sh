#!/usr/bin/env bash
# Runs every test suite in scripts/test.d/ in order, each with a time limit, and prints one line per
# suite and a closing summary. A suite's full output is in target/test-logs/<suite>.log; the tail of
# a failed suite is printed. Usage: scripts/test.sh [SUITE-NAME-SUBSTRING...]
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/test-logs
passed=0; failed=0; failed_names=()
start_all=$(date +%s)
for suite in scripts/test.d/*.sh; do
  name=$(basename "$suite" .sh)
  if [ $# -gt 0 ]; then
    hit=0; for want in "$@"; do [[ "$name" == *"$want"* ]] && hit=1; done
    [ $hit -eq 1 ] || continue
  fi
  limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$suite" | head -1); limit=${limit:-900}
  log=target/test-logs/$name.log
  t0=$(date +%s)
  timeout --kill-after=20 "$limit" bash "$suite" >"$log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then
    passed=$((passed+1)); printf '[test] %-28s ok     %4ss\n' "$name" "$dt"
  else
    failed=$((failed+1)); failed_names+=("$name")
    [ $rc -eq 124 ] && why="timed out after ${limit}s" || why="exit $rc"
    printf '[test] %-28s FAILED %4ss (%s)\n' "$name" "$dt" "$why"
    echo "----- last 60 lines of $log -----"; tail -n 60 "$log"; echo "-----"
  fi
done
echo "[test] total $(( $(date +%s) - start_all ))s; failed: ${failed_names[*]:-none}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
