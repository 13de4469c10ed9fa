#!/usr/bin/env bash
# The native build and the C harness: a C compiler, valgrind, python3, curl.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_install build-essential valgrind python3 curl ca-certificates
command -v cargo >/dev/null || { echo "[deps] cargo is missing: install Rust with rustup first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
