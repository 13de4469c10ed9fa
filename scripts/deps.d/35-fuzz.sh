#!/usr/bin/env bash
# The fuzz suite (scripts/test.d/35-fuzz.sh, scripts/fuzz.sh): cargo-fuzz from crates.io, which
# drives libFuzzer with AddressSanitizer and needs a nightly Rust toolchain (-Zsanitizer). The
# nightly itself is not installed here (only package managers may download): it must already be
# there, as `rustup toolchain install nightly` leaves it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "[deps] the fuzz suite needs a nightly Rust toolchain and none is installed." >&2
  echo "[deps] install it once with: rustup toolchain install nightly --profile minimal" >&2
  echo "[deps] (cargo-fuzz builds with -Zsanitizer=address, which stable Rust does not offer)" >&2
  exit 1
fi
# libFuzzer is C++, built by libfuzzer-sys with the system compiler.
apt_install build-essential
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[deps] cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
