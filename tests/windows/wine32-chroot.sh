#!/usr/bin/env bash
# Runs a 32-bit Windows program with wine32 inside the i386 Debian chroot that
# scripts/deps.d/60-windows.sh made (multiarch wine32 on the host does not work on Debian 12 here).
# Usage: wine32-chroot.sh ROOT DIR PROGRAM.exe [ARGS...]
#   DIR is bind-mounted at ROOT/srv/win (Windows path Z:\srv\win) and is the working directory.
# The chroot shares the host's network, so the program reaches servers on the host's 127.0.0.1.
# Uses a private mount namespace when it can (the mounts vanish with it); otherwise it mounts and
# unmounts itself. Exit status: wine's, which proves nothing: judge the program by its output.
set -euo pipefail
R=$1; D=$2; shift 2
if [ -z "${WINE32_MODE:-}" ]; then
  if unshare --mount --propagation private true 2>/dev/null; then
    WINE32_MODE=ns exec unshare --mount --propagation private bash "$0" "$R" "$D" "$@"
  fi
  WINE32_MODE=plain
fi
mkdir -p "$R/srv/win"
cleanup() {
  if [ "$WINE32_MODE" = plain ]; then
    umount "$R/srv/win" 2>/dev/null || true; umount -R "$R/dev" 2>/dev/null || true; umount "$R/proc" 2>/dev/null || true
  fi
}
trap cleanup EXIT
mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
mountpoint -q "$R/dev" || mount --rbind /dev "$R/dev"
mount --bind "$D" "$R/srv/win"
rc=0
chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 WINEPREFIX=/root/wine32 \
  WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml=" \
  sh -c 'cd /srv/win && wine "$@"; rc=$?; wineserver -w; exit $rc' wine32 "$@" || rc=$?
exit $rc
