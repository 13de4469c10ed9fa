#!/usr/bin/env bash
# The NuGet package's assemblies: bindings/csharp/OAuthMail.cs compiled with Mono's mcs against the
# .NET Framework 4.6.2 reference assemblies (lib/net462), and the same IL retargeted to
# netstandard 2.0 by packaging/nuget/Retarget.cs (lib/netstandard2.0), each with its XML docs and
# the version from Cargo.toml (AssemblyVersion major.minor.patch.0, informational = the version).
#   csharp.sh VERSION LIB_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$1; LIB=$2
MONO=/usr/lib/mono
CECIL=$(ls -d $MONO/gac/Mono.Cecil/0.11.*/Mono.Cecil.dll | head -1)
FACADE=$MONO/4.7.1-api/Facades/netstandard.dll
for f in "$MONO/4.6.2-api/mscorlib.dll" "$CECIL" "$FACADE"; do
  [ -e "$f" ] || { echo "[dist] $f is missing: run scripts/install-deps.sh (mono-devel)" >&2; exit 1; }
done
W=target/dist-csharp; rm -rf "$W"; mkdir -p "$W" "$LIB/net462" "$LIB/netstandard2.0"
numeric=${VERSION%%[-+]*}
cat >"$W/AssemblyInfo.cs" <<CS
using System.Reflection;
[assembly: AssemblyTitle("OAuthMail")]
[assembly: AssemblyDescription("C# binding of liboauthmail: send mail through Gmail with OAuth 2.0")]
[assembly: AssemblyProduct("liboauthmail")]
[assembly: AssemblyVersion("$numeric.0")]
[assembly: AssemblyFileVersion("$numeric.0")]
[assembly: AssemblyInformationalVersion("$VERSION")]
CS
mcs -target:library -langversion:7 -codepage:utf8 -warnaserror -nowarn:1591 -nologo -nostdlib -noconfig \
  "-lib:$MONO/4.6.2-api" -r:mscorlib.dll -r:System.dll -r:System.Core.dll \
  "-doc:$LIB/net462/OAuthMail.xml" "-out:$LIB/net462/OAuthMail.dll" bindings/csharp/OAuthMail.cs "$W/AssemblyInfo.cs"
mcs -langversion:7 -warnaserror -nologo "-r:$CECIL" -out:"$W/retarget.exe" packaging/nuget/Retarget.cs
mono "$W/retarget.exe" "$LIB/net462/OAuthMail.dll" "$LIB/netstandard2.0/OAuthMail.dll" "$FACADE" | sed 's/^/[dist] /'
cp "$LIB/net462/OAuthMail.xml" "$LIB/netstandard2.0/"
