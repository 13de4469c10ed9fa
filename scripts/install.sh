#!/usr/bin/env bash
# `make install PREFIX=/usr/local`: the release build of the library, installed as a Unix
# library is:
#   $INCLUDEDIR/oauthmail.h
#   $LIBDIR/liboauthmail.so.<version>, liboauthmail.so.<major> -> it (the soname),
#            liboauthmail.so -> liboauthmail.so.<major> (for -loauthmail)
#   $LIBDIR/liboauthmail.a
#   $LIBDIR/pkgconfig/oauthmail.pc   (pkg-config --cflags --libs oauthmail; --static adds the
#                                    system libraries the static library needs)
# Environment: PREFIX (default /usr/local), LIBDIR (default $PREFIX/lib), INCLUDEDIR (default
# $PREFIX/include), DESTDIR (staged installs: prepended to every path, not written into the .pc),
# OAUTHMAIL_NO_BUILD=1 (install target/release as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
DESTDIR=${DESTDIR:-}
case $PREFIX in /*) ;; *) echo "PREFIX must be an absolute path (got $PREFIX)" >&2; exit 1 ;; esac
VERSION=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "oauthmail"))')
MAJOR=${VERSION%%.*}
# OAUTHMAIL_NO_BUILD=1: install what is already in target/release (the files `make dist` packed).
if [ "${OAUTHMAIL_NO_BUILD:-}" = 1 ]; then
  for f in target/release/liboauthmail.so target/release/liboauthmail.a; do
    [ -f "$f" ] || { echo "$f is missing: run make dist (or unset OAUTHMAIL_NO_BUILD)" >&2; exit 1; }
  done
else
  cargo build -q --release -p oauthmail
fi
# What the static library needs from the system on Linux (rustc's --print native-static-libs for
# this crate; scripts/test.d/70-dist.sh links statically with exactly these).
LIBS_PRIVATE="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
so=liboauthmail.so.$VERSION
install -d "$DESTDIR$INCLUDEDIR" "$DESTDIR$LIBDIR/pkgconfig"
install -m 644 include/oauthmail.h "$DESTDIR$INCLUDEDIR/oauthmail.h"
install -m 755 target/release/liboauthmail.so "$DESTDIR$LIBDIR/$so"
ln -sfn "$so" "$DESTDIR$LIBDIR/liboauthmail.so.$MAJOR"
ln -sfn "liboauthmail.so.$MAJOR" "$DESTDIR$LIBDIR/liboauthmail.so"
install -m 644 target/release/liboauthmail.a "$DESTDIR$LIBDIR/liboauthmail.a"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$LIBDIR|" -e "s|@INCLUDEDIR@|$INCLUDEDIR|" \
    -e "s|@VERSION@|$VERSION|" -e "s|@LIBS_PRIVATE@|$LIBS_PRIVATE|" packaging/unix/oauthmail.pc.in \
    >"$DESTDIR$LIBDIR/pkgconfig/oauthmail.pc"
echo "installed liboauthmail $VERSION into $DESTDIR$PREFIX"
[ -n "$DESTDIR" ] || [ "$(id -u)" -ne 0 ] || [ "$LIBDIR" != /usr/local/lib ] || ! command -v ldconfig >/dev/null || ldconfig
