#!/usr/bin/env bash
# Python's `cryptography` for the stand-in's service-account test (tests/standin/tests/service_account.rs
# runs tests/standin/tests/py/service_account.py, a JWT-bearer client that is not ours): RSA key
# generation, PKCS#8 loading and RS256 signing. pip's wheel for the python3 on PATH; Debian's
# package where that python3 is the system one (pip refuses to install into it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
python3 -c 'import cryptography' 2>/dev/null && exit 0
echo "[deps] pip install cryptography"
python3 -m pip install --quiet --disable-pip-version-check cryptography 2>/dev/null || apt_install python3-cryptography
python3 -c 'import cryptography'
