#!/bin/sh
# A stand-in for the system browser ($BROWSER), for the README programs, which use the system
# browser as a real program would: fetches the consent URL in the background (the stand-in runs
# with --auto-approve and redirects to the library's loopback listener) and exits 0 at once, as
# xdg-open does. OAUTHMAIL_HEADLESS_CA is the stand-in's CA file.
curl -sS -L --max-time 20 --cacert "$OAUTHMAIL_HEADLESS_CA" -o /dev/null "$1" </dev/null >/dev/null 2>&1 &
exit 0
