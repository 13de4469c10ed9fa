#!/usr/bin/env bash
# `make dist` and its test suite (scripts/dist.sh, scripts/test.d/70-dist.sh):
#   - Mono's C# compiler with the .NET Framework 4.6.2 reference assemblies and the netstandard
#     facade (mono-devel) for the NuGet package's assemblies; mono-runtime runs the consumer test;
#     xbuild builds the .NET Framework project that checks the package's .targets;
#   - llvm (llvm-dlltool makes the MSVC import libraries oauthmail.lib; llvm-nm/llvm-readobj check
#     them), zip/unzip, pkg-config (the Unix install test), binutils (readelf);
#   - from PyPI: wheel (`wheel pack` writes the wheels' RECORD) and auditwheel (checks the
#     manylinux tag the Linux wheel claims);
#   - from crates.io: cargo-license (the bundled dependencies and their licences).
# The Windows tool chains (mingw-w64, rustup targets, Wine) come from 60-windows.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_install mono-devel mono-xbuild mono-runtime llvm zip unzip pkg-config binutils
py=$(command -v python3)
"$py" -c 'import wheel, auditwheel' 2>/dev/null || {
  echo "[deps] pip install wheel auditwheel"
  "$py" -m pip install -q --disable-pip-version-check wheel auditwheel
}
command -v cargo-license >/dev/null || {
  echo "[deps] cargo install cargo-license"
  cargo install -q --locked --debug cargo-license  # --debug: builds in half the time; a one-shot tool
}
