# Helpers for scripts/fuzz.sh and scripts/test.d/35-fuzz.sh (sourced, not run).
# The fuzz targets live in fuzz/ (cargo-fuzz: libFuzzer + AddressSanitizer, nightly Rust).
# Layout: fuzz/corpus/<target>/ the committed seed corpus (small, hand-written);
# fuzz/regressions/<target>/ every input that ever crashed a target, replayed on every run;
# target/fuzz-corpus/<target>/ the corpus a run grows (not committed); target/fuzz-artifacts/<target>/
# the crash, leak, timeout and OOM inputs a run finds.

FUZZ_TRIPLE=$(rustc +nightly -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_BIN=fuzz/target/$FUZZ_TRIPLE/release

fuzz_require() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly Rust toolchain (cargo-fuzz needs -Zsanitizer=address);" \
         "install it with: rustup toolchain install nightly --profile minimal" >&2
    return 1
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is not installed; run scripts/deps.d/35-fuzz.sh (cargo install --locked cargo-fuzz)" >&2
    return 1
  fi
}

# Builds every target: release, debug assertions and overflow checks on, AddressSanitizer.
fuzz_build() {
  cargo +nightly fuzz build --debug-assertions
}

fuzz_targets() {
  cargo +nightly fuzz list
}

# fuzz_replay TARGET: runs every committed seed once (no mutation), then every regression input on
# its own, so each one that fails is named. Returns non-zero if any failed.
fuzz_replay() {
  local t=$1 rc=0 f
  mkdir -p "fuzz/regressions/$t" "target/fuzz-artifacts/$t"
  "$FUZZ_BIN/$t" -runs=0 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="target/fuzz-artifacts/$t/" \
    "fuzz/corpus/$t" || { echo "fuzz: $t: a seed in fuzz/corpus/$t fails"; rc=1; }
  for f in "fuzz/regressions/$t"/*; do
    [ -f "$f" ] || continue
    if "$FUZZ_BIN/$t" -timeout=20 -rss_limit_mb=2048 -artifact_prefix="target/fuzz-artifacts/$t/replay-" "$f"; then
      echo "fuzz: $t: regression $f passes"
    else
      echo "fuzz: $t: REGRESSION $f fails"; rc=1
    fi
  done
  return $rc
}

# fuzz_run TARGET SECONDS: fuzzes for SECONDS, growing target/fuzz-corpus/TARGET from the seeds (the
# regressions are replayed apart, so one that still fails cannot stop the fuzzing); the libFuzzer log
# goes to target/fuzz-logs/TARGET.log.
fuzz_run() {
  local t=$1 s=$2
  mkdir -p "target/fuzz-corpus/$t" "target/fuzz-artifacts/$t" target/fuzz-logs "fuzz/regressions/$t"
  "$FUZZ_BIN/$t" -max_total_time="$s" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="target/fuzz-artifacts/$t/" \
    "target/fuzz-corpus/$t" "fuzz/corpus/$t" >"target/fuzz-logs/$t.log" 2>&1
}

# fuzz_summary TARGET: one line from a run's log: executions, coverage, features, corpus, result.
fuzz_summary() {
  local t=$1 log=target/fuzz-logs/$1.log
  local execs cov ft corp crashes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "target/fuzz-artifacts/$t" -type f ! -name 'replay-*' | wc -l)
  printf '%-20s execs %-10s cov %-6s ft %-7s corpus %-6s artifacts %s\n' \
    "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
}
