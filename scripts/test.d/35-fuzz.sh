#!/usr/bin/env bash
# timeout: 900
# Fuzzing in CI (docs/reliability.md, "Fuzzing"): builds every cargo-fuzz target (libFuzzer,
# AddressSanitizer, debug assertions), replays the committed seeds and every regression input
# (fuzz/regressions/: every crash ever found), then fuzzes each target for FUZZ_SECONDS (default 8;
# about 1.5 minutes for the 10 targets). Any crash, leak, timeout, OOM or broken assertion fails the
# suite and leaves the input in target/fuzz-artifacts/<target>/: copy it to fuzz/regressions/<target>/
# with the fix. Needs the nightly toolchain and cargo-fuzz (scripts/deps.d/35-fuzz.sh); installs nothing.
# The build takes 2-4 minutes on 2 cores the first time (its own target dir, fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/fuzz-lib.sh
fuzz_require
seconds=${FUZZ_SECONDS:-8}
start=$(date +%s)
fuzz_build
echo "=== built in $(( $(date +%s) - start ))s"
failed=()
for t in $(fuzz_targets); do
  rm -rf "target/fuzz-artifacts/$t"
  echo "=== $t: replay the seeds and every regression input"
  if ! fuzz_replay "$t" >"target/fuzz-replay-$t.log" 2>&1; then
    grep -E '^fuzz:|panicked at|^ *(left|right):|assertion|ERROR: |SUMMARY: ' "target/fuzz-replay-$t.log" | grep -v 'passes$'
    failed+=("$t (replay)")
  fi
  echo "=== $t: fuzz ${seconds}s"
  if ! fuzz_run "$t" "$seconds"; then
    tail -n 40 "target/fuzz-logs/$t.log"; failed+=("$t")
  fi
  fuzz_summary "$t"
done
echo "=== fuzz suite: $(( $(date +%s) - start ))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}; inputs in target/fuzz-artifacts/" >&2
  exit 1
fi
