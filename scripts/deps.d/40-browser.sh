#!/usr/bin/env bash
# The browser end-to-end test (scripts/test.d/40-browser.sh): Debian's Chromium, driven by
# playwright-core (which never downloads a browser of its own), installed from the committed
# package-lock.json in tests/browser.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Fonts: --no-install-recommends would leave Chromium with none that cover ș ț ă î â.
apt_install chromium fonts-dejavu-core fonts-liberation
command -v npm >/dev/null || apt_install nodejs npm
cd "$(dirname "$0")/../../tests/browser"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] npm ci in tests/browser"
  npm ci --no-audit --no-fund --loglevel=error
fi
