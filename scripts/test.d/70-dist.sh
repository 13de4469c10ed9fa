#!/usr/bin/env bash
# timeout: 600
# The release packages in dist/ (`make dist`; `make test` builds them first), each installed the
# way its users install it and run against the local Google stand-in:
#   - scripts/dist/check.py: every expected file in each package, every version equal to
#     Cargo.toml's (file names, header macros, DLL version resources, nuspec, assemblies, wheel
#     METADATA, CHANGELOG.md), oauthmail.lib checked with llvm-readobj/llvm-nm against
#     windows/oauthmail.def for the right machine type, checksums; then its self-test: doctored
#     copies (a file left out, a version changed, a file changed after SHA256SUMS) are refused;
#   - SHA256SUMS (the zip's and dist/'s) verify with sha256sum -c;
#   - the Linux wheel pip-installed into a fresh venv (no index), then bindings/python/example.py
#     authorizes and sends with OAUTHMAIL_LIBRARY and LD_LIBRARY_PATH unset: the module loads the
#     library inside its package; pip refuses the Windows wheels here (their tags are real);
#   - the NuGet package unpacked, a mono-compiled program laid out as a .NET build output
#     (OAuthMail.dll + runtimes/linux-x64/native/liboauthmail.so) that authorizes and sends, with
#     the net462 and the netstandard2.0 assembly; the native library must be resolved from
#     runtimes/linux-x64/native; the .targets used by a .NET Framework project built with xbuild
#     copies the right DLL(s) into runtimes/win-*/native/ of the output (x86, x64, AnyCPU);
#   - `make install PREFIX=<temp>`: files and symlinks, readelf -d shows the soname, pkg-config
#     --modversion is the version; the README's C example compiled with
#     `cc example.c $(pkg-config --cflags --libs oauthmail)` only, run: authorizes and sends; and
#     linked statically with `pkg-config --static`.
# The Windows DLLs in the zip are run under Wine by 60-windows.sh. Installs nothing.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
MAJOR=${VERSION%%.*}
[ -s "dist/oauthmail-$VERSION-windows.zip" ] || { echo "dist/ has no packages for $VERSION: run make dist"; exit 1; }

W=$REPO/target/dist-test
rm -rf "$W"; mkdir -p "$W"
passed=0; failed=0
# step NAME CMD...: runs CMD (bounded; a function must be exported), one line per step, the log's
# tail on failure.
step() {
  local name=$1 log="$W/$1.log" t0=$SECONDS rc; shift
  timeout --kill-after=5 180 bash -c '"$@"' _ "$@" >"$log" 2>&1; rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed+1)); printf '[dist] %-34s ok     %3ss\n' "$name" $((SECONDS-t0))
  else
    failed=$((failed+1)); printf '[dist] %-34s FAILED %3ss (exit %s)\n' "$name" $((SECONDS-t0)) "$rc"
    sed 's/^/    | /' "$log" | tail -n 40
  fi
  return $rc
}

step check python3 scripts/dist/check.py dist && echo "    ($(grep -c '^ok ' "$W/check.log") checks)"
step check-selftest python3 scripts/dist/check.py --selftest dist
step sha256sums bash -c "cd dist && sha256sum --quiet -c SHA256SUMS && mkdir -p '$W/zip' && unzip -q oauthmail-$VERSION-windows.zip -d '$W/zip' && cd '$W/zip/oauthmail-$VERSION-windows' && sha256sum --quiet -c SHA256SUMS"

# ---- the stand-in (auto-approve: the consent is a redirect a curl can follow) ----
cargo build -q -p oauthmail-standin || { echo "cargo build of the stand-in failed"; exit 1; }
STANDIN_PID=
cleanup() { [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null; true; }
trap cleanup EXIT
target/debug/oauthmail-standin --state-dir "$W/standin" --auto-approve >"$W/standin.out" 2>&1 &
STANDIN_PID=$!
for _ in $(seq 1 100); do [ -s "$W/standin/standin.json" ] && break; sleep 0.1; done
[ -s "$W/standin/standin.json" ] || { echo "the stand-in did not start"; cat "$W/standin.out"; exit 1; }
python3 bindings/tests/standin_config.py "$W/standin/standin.json" >"$W/config.json"
read -r USER1 CA MAILBOX < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["users"][0], s["ca_file"], s["mailbox_dir"])' "$W/standin/standin.json")
printf 'Conținut: ăâîșț — factura 123\n' >"$W/factura-123.txt"
export W USER1 CA MAILBOX REPO VERSION MAJOR
# Nothing may point the packages at a library outside them.
unset OAUTHMAIL_LIBRARY LD_LIBRARY_PATH

# example TAG CMD...: a bindings example (authorize headlessly, send), then the mailbox check.
example() {
  local tag=$1; shift
  OAUTHMAIL_HEADLESS_CA=$CA "$@" "$W/config.json" "$USER1" "$W/factura-123.txt" >"$W/$tag.id" || return 1
  local id; id=$(tail -n 1 "$W/$tag.id")
  echo "sent $id"
  python3 "$REPO/bindings/tests/check_mailbox.py" "$MAILBOX" "$id" "$tag" "$W/factura-123.txt" "$USER1" gmail_api
}
export -f example

# ---- the Python wheel ----
LINUX_WHEEL=$(ls dist/oauthmail-*-py3-none-manylinux_*_x86_64.whl 2>/dev/null | head -1)
export LINUX_WHEEL
wheel_install() {
  python3 -m venv "$W/venv" && "$W/venv/bin/python" -m pip install -q --no-index --disable-pip-version-check "$REPO/$LINUX_WHEEL" || return 1
  # Imported from the venv, with the library that the wheel put inside the package.
  (cd "$W" && "$W/venv/bin/python" -c '
import os, sys, oauthmail
pkg = os.path.dirname(oauthmail.__file__)
lib = oauthmail.load_library()._name
print("module", oauthmail.__file__, "library", lib)
assert pkg.startswith(sys.prefix), "oauthmail not imported from the venv"
assert os.path.dirname(os.path.abspath(lib)) == pkg, "the library was not the one bundled in the package: " + lib
assert os.path.isfile(os.path.join(pkg, "py.typed"))
')
}
export -f wheel_install
step wheel-pip-install wheel_install &&
  step wheel-example-send bash -c 'mkdir -p "$W/py" && cp "$REPO/bindings/python/example.py" "$W/py/" && cd "$W/py" && example python "$W/venv/bin/python" example.py'
for plat in win_amd64 win32; do
  step "wheel-$plat-refused-on-linux" bash -c "! '$W/venv/bin/python' -m pip install -q --no-index --dry-run dist/oauthmail-*-py3-none-$plat.whl 2>'$W/$plat.err' && grep -q 'is not a supported wheel on this platform' '$W/$plat.err'"
done

# ---- the NuGet package, consumed by Mono the way a .NET build output lays it out ----
NUPKG=dist/OAuthMail.$VERSION.nupkg
cat >"$W/Probe.cs" <<'EOF'
// Prints the library version and the file NativeLoader resolved; exit 0 only when that is
// runtimes/linux-x64/native/liboauthmail.so under the program's directory.
using System;
using System.IO;
static class Probe
{
    static int Main()
    {
        string version = OAuthMail.OAuthMailClient.Version;
        string from = OAuthMail.NativeLoader.LoadedFrom;
        string want = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "runtimes", "linux-x64", "native", "liboauthmail.so");
        Console.WriteLine("version " + version + ", loaded from " + from);
        return version == Environment.GetEnvironmentVariable("VERSION") && from != null && Path.GetFullPath(from) == Path.GetFullPath(want) ? 0 : 1;
    }
}
EOF
nuget_app() {  # nuget_app TFM: the unpacked package's assembly + native library in an app folder
  local tfm=$1 app=$W/nuget-app-$1 extra=()
  [ "$tfm" = netstandard2.0 ] && extra=(-r:/usr/lib/mono/4.5/Facades/netstandard.dll)
  rm -rf "$app"; mkdir -p "$app/runtimes/linux-x64/native"
  cp "$W/nuget/lib/$tfm/OAuthMail.dll" "$app/"
  cp "$W/nuget/runtimes/linux-x64/native/liboauthmail.so" "$app/runtimes/linux-x64/native/"
  mcs -langversion:7 -codepage:utf8 -nologo -r:"$app/OAuthMail.dll" "${extra[@]}" -out:"$app/Example.exe" "$REPO/bindings/csharp/Example.cs" &&
    mcs -nologo -r:"$app/OAuthMail.dll" "${extra[@]}" -out:"$app/Probe.exe" "$W/Probe.cs"
}
export -f nuget_app
if step nuget-unpack bash -c "mkdir -p '$W/nuget' && cd '$W/nuget' && unzip -q '$REPO/$NUPKG'"; then
  for tfm in net462 netstandard2.0; do
    if step "nuget-$tfm-build" nuget_app $tfm; then
      step "nuget-$tfm-resolves-runtimes" mono "$W/nuget-app-$tfm/Probe.exe"
      step "nuget-$tfm-example-send" bash -c "cd / && example csharp mono '$W/nuget-app-$tfm/Example.exe'"
    fi
  done
  # The .targets in a .NET Framework project (xbuild, Mono's MSBuild): the right DLL in the output.
  nuget_targets() {
    local plat=$1 proj=$W/targets-$1
    rm -rf "$proj"; mkdir -p "$proj"
    printf 'static class P { static void Main() { System.Console.WriteLine(OAuthMail.OAuthMailClient.StatusName(0)); } }\n' >"$proj/P.cs"
    cat >"$proj/App.csproj" <<EOF
<Project ToolsVersion="4.0" DefaultTargets="Build" xmlns="http://schemas.microsoft.com/developer/msbuild/2003">
  <PropertyGroup>
    <OutputType>Exe</OutputType><AssemblyName>App</AssemblyName><TargetFrameworkVersion>v4.6.2</TargetFrameworkVersion>
    <PlatformTarget>$plat</PlatformTarget><OutputPath>bin\\</OutputPath>
  </PropertyGroup>
  <ItemGroup>
    <Reference Include="System" />
    <Reference Include="OAuthMail"><HintPath>$W/nuget/lib/net462/OAuthMail.dll</HintPath></Reference>
    <Compile Include="P.cs" />
  </ItemGroup>
  <Import Project="\$(MSBuildToolsPath)\\Microsoft.CSharp.targets" />
  <Import Project="$W/nuget/build/net462/OAuthMail.targets" />
</Project>
EOF
    (cd "$proj" && xbuild /nologo /v:minimal App.csproj) || return 1
    (cd "$proj/bin" && find . -name '*.dll' | sort)
    # Never next to the exe: oauthmail.dll and the managed OAuthMail.dll are one name on Windows.
    [ "$(find "$proj/bin" -maxdepth 1 -iname oauthmail.dll)" = "$proj/bin/OAuthMail.dll" ] || { echo "bin/ must hold only the managed OAuthMail.dll"; return 1; }
    local want=$plat; [ "$plat" = AnyCPU ] && want="x86 x64"
    for a in x86 x64; do
      if [[ " $want " == *" $a "* ]]; then
        cmp "$proj/bin/runtimes/win-$a/native/oauthmail.dll" "$W/nuget/runtimes/win-$a/native/oauthmail.dll" || return 1
      elif [ -e "$proj/bin/runtimes/win-$a" ]; then
        echo "a $plat build got the win-$a DLL"; return 1
      fi
    done
  }
  export -f nuget_targets
  for plat in x86 x64 AnyCPU; do step "nuget-targets-$plat" nuget_targets $plat; done
fi

# ---- make install, pkg-config and the README's C example ----
P=$W/prefix
export P
install_check() {
  # The library make dist built and packed (no rebuild here).
  OAUTHMAIL_NO_BUILD=1 make -s install PREFIX="$P" || return 1
  cmp "$P/lib/liboauthmail.so.$VERSION" "$W/nuget/runtimes/linux-x64/native/liboauthmail.so" || { echo "the installed library is not the packaged one"; return 1; }
  ls -l "$P/lib" "$P/include"
  [ "$(readlink "$P/lib/liboauthmail.so")" = "liboauthmail.so.$MAJOR" ] &&
    [ "$(readlink "$P/lib/liboauthmail.so.$MAJOR")" = "liboauthmail.so.$VERSION" ] &&
    [ -f "$P/lib/liboauthmail.so.$VERSION" ] && [ -f "$P/lib/liboauthmail.a" ] && [ -f "$P/include/oauthmail.h" ] || return 1
  readelf -d "$P/lib/liboauthmail.so.$VERSION" | tee "$W/readelf.txt" | grep SONAME
  grep -q "Library soname: \[liboauthmail.so.$MAJOR\]" "$W/readelf.txt" || { echo "no soname liboauthmail.so.$MAJOR"; return 1; }
  local v; v=$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --modversion oauthmail)
  [ "$v" = "$VERSION" ] || { echo "pkg-config --modversion: $v, Cargo.toml: $VERSION"; return 1; }
}
export -f install_check
readme_example() {
  local d=$W/c; mkdir -p "$d"
  printf '%%PDF-1.4 factura 123\n' >"$d/123.pdf"
  # The README's "A C example" block, pointed at the stand-in; every replaced text must occur
  # exactly once, so a README edit that breaks this fails here instead of passing untested.
  python3 - "$REPO/README.md" "$W/config.json" "$USER1" "$d/123.pdf" >"$d/example.c" <<'PY' || return 1
import json, re, sys
readme, config, user, pdf = sys.argv[1:]
block = re.search(r"^## A C example\n.*?^```c\n(.*?)^```", open(readme, encoding="utf-8").read(), re.S | re.M).group(1)
def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
subs = [
    (re.compile(r'const char \*config =\n(?:\s*".*"\n)*?\s*".*";'), "const char *config = " + c_string(json.dumps(json.load(open(config)))) + ";"),
    (re.compile(re.escape("office@firma.ro")), user),
    (re.compile(re.escape("/srv/facturi/123.pdf")), pdf),
]
for pattern, new in subs:
    n = len(pattern.findall(block))
    if n == 0 or (pattern.pattern != re.escape("office@firma.ro") and n != 1):
        sys.exit(f"README example: {pattern.pattern!r} found {n} times")
    block = pattern.sub(lambda m: new, block)
sys.stdout.write(block)
PY
  # Compiled with what pkg-config says, nothing else.
  (cd "$d" && cc example.c $(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags --libs oauthmail) -o example) || return 1
  readelf -d "$d/example" | grep 'Shared library: \[liboauthmail.so.'"$MAJOR"'\]' >/dev/null || { echo "example does not need liboauthmail.so.$MAJOR"; return 1; }
  # The "browser": follows the URL the example prints to the stand-in's redirect.
  (for _ in $(seq 300); do url=$(grep -m1 '^https://' "$d/out.txt" 2>/dev/null) && break; sleep 0.1; done
   [ -n "${url:-}" ] && curl -sS -L --max-redirs 3 --max-time 30 --cacert "$CA" -o /dev/null "$url") &
  local browser=$!
  LD_LIBRARY_PATH=$P/lib stdbuf -oL "$d/example" >"$d/out.txt" 2>"$d/err.txt"; local rc=$?
  wait $browser
  cat "$d/out.txt" "$d/err.txt" | sed 's/code=[^& ]*/code=…/'
  [ $rc -eq 0 ] || return 1
  local id; id=$(sed -n 's/^sent: //p' "$d/out.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["message_id"])')
  python3 - "$MAILBOX" "$id" "$USER1" <<'PY'
import email, email.policy, glob, json, os, sys, time
mailbox, mid, user = sys.argv[1:]
for _ in range(50):
    for path in glob.glob(os.path.join(mailbox, "**", "*.eml"), recursive=True):
        msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
        if msg["Message-ID"] == mid:
            names = [p.get_filename() for p in msg.iter_attachments()]
            assert msg["Subject"] == "Factura nr. 123 — scadență", msg["Subject"]
            assert names == ["123.pdf"], names
            print("in the mailbox:", path, msg["Subject"], names)
            sys.exit(0)
    time.sleep(0.1)
sys.exit("message " + mid + " not in the mailbox")
PY
}
export -f readme_example
static_link() {
  local d=$W/c
  (cd "$d" && cc example.c $(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags oauthmail) \
    $(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --static --libs oauthmail | sed "s|-loauthmail|$P/lib/liboauthmail.a|") -o example-static) || return 1
  ! readelf -d "$d/example-static" | grep liboauthmail >/dev/null
}
export -f static_link
if step make-install install_check; then
  step readme-c-example-pkg-config readme_example && step readme-c-example-static static_link
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
