#!/usr/bin/env bash
# A long fuzzing run, one target after the other (one job: the CI machine has 2 cores), sharing the
# time equally. Usage: scripts/fuzz.sh [--minutes N] [TARGET...]   (default 30 minutes, every target)
# The corpus grows in target/fuzz-corpus/ across runs; findings land in target/fuzz-artifacts/.
# Prints one line per target (executions, coverage, features, corpus size, artifacts) and keeps it in
# target/fuzz-report.txt, for docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fuzz-lib.sh
minutes=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
fuzz_require
fuzz_build
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz_targets)
each=$(( minutes * 60 / ${#targets[@]} ))
[ "$each" -ge 1 ] || each=1
echo "fuzz: ${#targets[@]} targets, ${each}s each, started $(date -u +%FT%TZ)" | tee target/fuzz-report.txt
status=0
for t in "${targets[@]}"; do
  fuzz_replay "$t" >/dev/null 2>&1 || { echo "$t: a seed or regression input fails (see target/fuzz-artifacts/$t)"; status=1; }
  fuzz_run "$t" "$each" || status=1
  fuzz_summary "$t" | tee -a target/fuzz-report.txt
done
echo "fuzz: finished $(date -u +%FT%TZ)" | tee -a target/fuzz-report.txt
exit $status
