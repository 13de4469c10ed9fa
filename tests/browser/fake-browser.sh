#!/bin/sh
# Stands in for the user's browser in the system-browser test: $BROWSER points here. It records
# its arguments, one per line, in $FAKE_BROWSER_OUT (the test then opens the URL in Chromium),
# and exits 0 at once, as a launcher that hands the URL to a running browser does.
: "${FAKE_BROWSER_OUT:?}"
tmp="$FAKE_BROWSER_OUT.tmp"
printf '%s\n' "$@" > "$tmp" && mv "$tmp" "$FAKE_BROWSER_OUT"
