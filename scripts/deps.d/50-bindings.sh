#!/usr/bin/env bash
# The host-language bindings' tests (scripts/test.d/50-bindings.sh): Mono's C# compiler and
# runtime (mcs compiles the .NET Framework-compatible binding; no .NET SDK is packaged for Debian)
# and Free Pascal (compiles the Delphi unit in -Mdelphi and -Mdelphiunicode). C++ uses g++ and
# Python uses ctypes, both from 10-base.sh; the headless url_opener in the tests uses curl.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
apt_install mono-mcs fp-compiler g++ curl ca-certificates
