#!/usr/bin/env bash
# The host-language bindings' tests (scripts/test.d/50-bindings.sh): Mono's C# compiler and
# runtime (mcs compiles the .NET Framework-compatible binding; no .NET SDK is packaged for Debian)
# and Free Pascal (compiles the Delphi unit in -Mdelphi and -Mdelphiunicode). C++ uses g++ and
# Python uses ctypes, both from 10-base.sh; the headless url_opener in the tests uses curl.
# mypy (PyPI) type-checks the Python package with --strict.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_install mono-mcs fp-compiler g++ curl ca-certificates
if ! python3 -m mypy --version >/dev/null 2>&1; then
  echo "[deps] pip install mypy"
  # A Debian-managed python3 refuses plain pip installs (PEP 668).
  python3 -m pip install -q mypy 2>/dev/null || python3 -m pip install -q --break-system-packages mypy
fi
