#!/usr/bin/env bash
# The Windows DLL suite (scripts/test.d/60-windows.sh): rustup's two windows-gnu targets, the
# mingw-w64 linkers (win32-threads variant: no libwinpthread to ship), windres, Wine.
#   64-bit: Debian's wine64 on the host.
#   32-bit: wine32 inside a small i386 debootstrap chroot. Multiarch wine32 on the host fails here
#           (broken i386 security index, version skew of Multi-Arch: same libraries), and enabling
#           i386 on the host makes every later `apt-get update` report errors: never do that.
# Everything lives under $OAUTHMAIL_WIN_CACHE (default /var/cache/oauthmail-win), outside the
# repo, so a second run only checks that it is there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CACHE=${OAUTHMAIL_WIN_CACHE:-/var/cache/oauthmail-win}
now() { date +%s; }

# rustup's prebuilt std for the standard targets: no -Zbuild-std, no rsbegin.o hunting.
for t in x86_64-pc-windows-gnu i686-pc-windows-gnu; do
  rustup target list --installed 2>/dev/null | grep -qx "$t" || { echo "[deps] rustup target add $t"; rustup target add "$t"; }
done

apt_install gcc-mingw-w64-x86-64-win32 gcc-mingw-w64-i686-win32 binutils-mingw-w64-x86-64 \
  binutils-mingw-w64-i686 wine wine64 debootstrap

mkdir -p "$CACHE"
ROOT=$CACHE/i386root
if [ ! -e "$ROOT/.oauthmail-ready" ]; then
  t0=$(now)
  echo "[deps] i386 chroot with wine32 in $ROOT"
  # A half-made root from an interrupted run: make sure nothing is mounted in it, then start over.
  for m in "$ROOT/srv/win" "$ROOT/dev" "$ROOT/proc"; do mountpoint -q "$m" 2>/dev/null && umount -R "$m"; done
  rm -rf "$ROOT"
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  debootstrap --arch=i386 --variant=minbase bookworm "$ROOT" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log"; exit 1; }
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  # Without it `localhost` does not resolve under Wine (os error 11001).
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n' >"$ROOT/etc/hosts"
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get -q update && apt-get install -y -q --no-install-recommends wine wine32 && apt-get clean' \
    >"$CACHE/wine32.log" 2>&1 || { tail -20 "$CACHE/wine32.log"; exit 1; }
  touch "$ROOT/.oauthmail-ready"
  echo "[deps] i386 chroot ready in $(( $(now) - t0 ))s"
fi

# The Wine prefixes (wineboot takes 5-15 s; done once here so that test runs don't pay for it).
if [ ! -e "$CACHE/wine64/system.reg" ]; then
  echo "[deps] wine64 prefix in $CACHE/wine64"
  WINEPREFIX=$CACHE/wine64 WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" wineboot --init >/dev/null 2>&1
  WINEPREFIX=$CACHE/wine64 wineserver -w
fi
if [ ! -e "$ROOT/root/wine32/system.reg" ]; then
  echo "[deps] wine32 prefix in the i386 chroot"
  mkdir -p "$CACHE/empty"
  bash "$(dirname "$0")/../../tests/windows/wine32-chroot.sh" "$ROOT" "$CACHE/empty" wineboot --init >/dev/null 2>&1
fi
