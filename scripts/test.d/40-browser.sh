#!/usr/bin/env bash
# timeout: 600
# The consent round trip in a real browser (tests/browser/run.mjs): Debian's Chromium, headless,
# driven by playwright-core, clicks through the Google stand-in's account chooser and consent page
# and lands on liboauthmail's loopback page; the library is called from a C host (tests/browser/host.c).
# Also Deny, a closed tab (timeout), cancel, the system-browser path ($BROWSER), and the
# administrator's tool: `oauthmail authorize` (its $BROWSER hands the URL to Chromium) + `send`.
# Screenshots and logs: tests/browser/artifacts/. Installs nothing (scripts/deps.d/40-browser.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing: run scripts/install-deps.sh"; exit 1; }
[ -d tests/browser/node_modules/playwright-core ] || { echo "playwright-core is missing: run scripts/install-deps.sh"; exit 1; }
cargo build -p oauthmail -p oauthmail-standin -p oauthmail-cli
mkdir -p target/browser-e2e
gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pthread tests/browser/host.c \
  -Iinclude -Ltarget/debug -loauthmail -Wl,-rpath,"$PWD/target/debug" -o target/browser-e2e/host
cd tests/browser
node run.mjs "$@"
# The stand-in's Microsoft pages driven without the library (after run.mjs, which clears the
# screenshots): pick, Accept, Cancel, the code redeemed by the script itself.
[ $# -gt 0 ] || node microsoft-pages.mjs
