#!/usr/bin/env bash
# `make dist`: builds the release packages into dist/, every version taken from Cargo.toml.
#   oauthmail-<v>-windows.zip        x64/ and x86/ (oauthmail.dll, the MSVC import library
#                                    oauthmail.lib, the MinGW liboauthmail.dll.a, oauthmail.exe when
#                                    the workspace has the oauthmail-cli package), the header, the
#                                    bindings, the docs (en, ro), the licences, README.txt, SHA256SUMS
#   OAuthMail.<v>.nupkg              the C# binding for net462 and netstandard2.0, the native
#                                    library under runtimes/{win-x64,win-x86,linux-x64}/native/,
#                                    build/net462/OAuthMail.targets for .NET Framework projects
#   oauthmail-<v>-py3-none-<tag>.whl the Python package with the native library inside it, for the
#                                    manylinux tag auditwheel confirms, win_amd64 and win32
#   SHA256SUMS                       of the files above
# The DLLs are built here once; scripts/test.d/60-windows.sh and 70-dist.sh test the packaged
# files themselves. Needs scripts/install-deps.sh (60-windows.sh, 70-dist.sh). Idempotent: cargo
# rebuilds nothing that is up to date; dist/ is rewritten each time.
# Environment: DIST_DIR (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIST=${DIST_DIR:-$REPO/dist}
STAGE=$REPO/target/dist-stage
now() { date +%s; }
t_all=$(now)

for tool in x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc llvm-dlltool mcs zip cargo-license; do
  command -v "$tool" >/dev/null || { echo "[dist] $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
python3 -c 'import wheel, auditwheel' 2>/dev/null || { echo "[dist] python's wheel/auditwheel are missing: run scripts/install-deps.sh" >&2; exit 1; }

VERSION=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "oauthmail"))')
HAS_CLI=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(int(any(p["name"] == "oauthmail-cli" for p in json.load(sys.stdin)["packages"])))')
# Reproducible archives: every file gets the last commit's time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
echo "[dist] oauthmail $VERSION (cli: $([ "$HAS_CLI" = 1 ] && echo yes || echo no))"

# ---- builds: the Linux .so/.a and the two Windows DLLs (release profile, as shipped) ----
t=$(now)
cargo build -q --release -p oauthmail
WIN_TARGETS="x86_64-pc-windows-gnu i686-pc-windows-gnu"
for tgt in $WIN_TARGETS; do
  cargo build -q --release --target "$tgt" -p oauthmail
  if [ "$HAS_CLI" = 1 ]; then cargo build -q --release --target "$tgt" -p oauthmail-cli; fi
done
echo "[dist] release builds: $(( $(now) - t ))s"

rm -rf "$STAGE" "$DIST"; mkdir -p "$STAGE" "$DIST"
SO=target/release/liboauthmail.so
readelf -d "$SO" | grep "SONAME.*\[liboauthmail.so.${VERSION%%.*}\]" >/dev/null || { echo "[dist] $SO has no soname liboauthmail.so.${VERSION%%.*}" >&2; exit 1; }

# ---- licences: ours and those of every crate compiled into the shipped libraries ----
manifests=(--manifest Cargo.toml)
if [ "$HAS_CLI" = 1 ]; then manifests+=(--manifest "$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "oauthmail-cli"))')"); fi
python3 scripts/dist/licenses.py "${manifests[@]}" x86_64-unknown-linux-gnu x86_64-pc-windows-gnu i686-pc-windows-gnu \
  >"$STAGE/THIRD-PARTY-LICENSES.txt"
LICENCES=(LICENSE-MIT LICENSE-APACHE "$STAGE/THIRD-PARTY-LICENSES.txt")

# ---- the Windows zip ----
t=$(now)
Z=$STAGE/oauthmail-$VERSION-windows
mkdir -p "$Z"/{x64,x86,include,docs} "$Z/bindings"/{pascal,csharp,cpp,python}
for tgt in $WIN_TARGETS; do
  case $tgt in x86_64-*) arch=x64; machine=i386:x86-64 ;; i686-*) arch=x86; machine=i386 ;; esac
  out=target/$tgt/release
  cp "$out/oauthmail.dll" "$out/liboauthmail.dll.a" "$Z/$arch/"
  if [ "$HAS_CLI" = 1 ]; then cp "$out/oauthmail.exe" "$Z/$arch/"; fi
  # The MSVC import library from the .def (undecorated cdecl names; on x86 the linker symbol is
  # _name and the DLL's export is looked up without the underscore).
  llvm-dlltool -m "$machine" -D oauthmail.dll -d windows/oauthmail.def -l "$Z/$arch/oauthmail.lib"
done
cp include/oauthmail.h "$Z/include/"
cp windows/oauthmail.def "$Z/"
cp bindings/pascal/OAuthMail.pas bindings/pascal/example.dpr "$Z/bindings/pascal/"
cp bindings/csharp/OAuthMail.cs bindings/csharp/Example.cs "$Z/bindings/csharp/"
cp bindings/cpp/oauthmail.hpp bindings/cpp/example.cpp "$Z/bindings/cpp/"
cp -r bindings/python/oauthmail bindings/python/example.py "$Z/bindings/python/"
cp bindings/README.md "$Z/bindings/"
cp docs/*.en.md docs/*.ro.md docs/windows.md "$Z/docs/"
cp README.md CHANGELOG.md "${LICENCES[@]}" "$Z/"
sed "s/@VERSION@/$VERSION/g" packaging/windows/README.txt | sed 's/$/\r/' >"$Z/README.txt"
find "$Z" -name __pycache__ -prune -exec rm -rf {} +
(cd "$Z" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS)
find "$Z" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$STAGE" && find "oauthmail-$VERSION-windows" | LC_ALL=C sort | zip -q -X -D -nw -@ "$DIST/oauthmail-$VERSION-windows.zip")
echo "[dist] windows zip: $(( $(now) - t ))s"

# ---- the NuGet package ----
t=$(now)
N=$STAGE/nuget
mkdir -p "$N"/lib/{net462,netstandard2.0} "$N"/runtimes/{win-x64,win-x86,linux-x64}/native "$N"/build/net462 "$N"/buildTransitive/net462
cp "$Z/x64/oauthmail.dll" "$N/runtimes/win-x64/native/"
cp "$Z/x86/oauthmail.dll" "$N/runtimes/win-x86/native/"
cp "$SO" "$N/runtimes/linux-x64/native/liboauthmail.so"
bash scripts/dist/csharp.sh "$VERSION" "$N/lib"
cp packaging/nuget/OAuthMail.targets "$N/build/net462/"
cp packaging/nuget/OAuthMail.targets "$N/buildTransitive/net462/"
cp packaging/nuget/README.md "${LICENCES[@]}" "$N/"
sed "s/@VERSION@/$VERSION/g" packaging/nuget/OAuthMail.nuspec >"$N/OAuthMail.nuspec"
cp packaging/nuget/'[Content_Types].xml' "$N/"
mkdir -p "$N/_rels"; cp packaging/nuget/rels.xml "$N/_rels/.rels"
find "$N" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$N" && find . -type f -printf '%P\n' | LC_ALL=C sort | zip -q -X -D -nw -@ "$DIST/OAuthMail.$VERSION.nupkg")
echo "[dist] nupkg: $(( $(now) - t ))s"

# ---- the Python wheels ----
t=$(now)
python3 scripts/dist/wheel.py --version "$VERSION" --out "$DIST" --stage "$STAGE/wheel" \
  --licence LICENSE-MIT --licence LICENSE-APACHE --licence "$STAGE/THIRD-PARTY-LICENSES.txt" \
  linux:"$SO" win_amd64:"$Z/x64/oauthmail.dll" win32:"$Z/x86/oauthmail.dll"
echo "[dist] wheels: $(( $(now) - t ))s"

(cd "$DIST" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS)
echo "[dist] in $DIST ($(( $(now) - t_all ))s):"
(cd "$DIST" && ls -l --time-style=+ | awk 'NR > 1 { printf "  %10d  %s\n", $5, $NF }')
