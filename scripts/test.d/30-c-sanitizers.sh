#!/usr/bin/env bash
# timeout: 600
# The C harness (tests/c/, driven by tests/c_harness.rs) again, under AddressSanitizer with leak
# detection, then under valgrind memcheck (definite leaks and memory errors fail the run).
# The plain run is part of `cargo test --workspace` (10-rust.sh). Installs nothing: valgrind comes
# from scripts/deps.d/10-base.sh. Takes about 2-3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
for check in asan valgrind; do
  echo "=== C harness under $check"
  start=$(date +%s)
  OAUTHMAIL_C_CHECK=$check cargo test -p oauthmail --test c_harness -- --nocapture --exact \
    c_harness_passes_every_check_against_the_standin
  echo "=== $check: $(( $(date +%s) - start ))s"
done
