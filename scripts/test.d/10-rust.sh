#!/usr/bin/env bash
# timeout: 900
# Format, lints, the checked-in header, and every Rust test in the workspace (unit tests, the
# stand-in's own tests, the C harness driven by cargo test).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
git diff --exit-code include/oauthmail.h || { echo "include/oauthmail.h changed when rebuilt: commit the regenerated header"; exit 1; }
cargo test --workspace
