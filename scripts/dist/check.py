#!/usr/bin/env python3
"""Checks the packages in dist/ against Cargo.toml and against what each must contain.

    check.py DIST_DIR             every check below; prints one line per check, exits 1 on any failure
    check.py --selftest DIST_DIR  doctored copies (a file left out, a version changed, a checksum
                                  broken) must each be refused, or the checks prove nothing

Independent of scripts/dist.sh on purpose: the expected contents are listed here, not derived
from what the build happened to write.
  - versions: Cargo.toml's version in every file name, the header's OAUTHMAIL_VERSION_* macros,
    both DLLs' version resources (VS_FIXEDFILEINFO and the FileVersion string), the nuspec, both
    assemblies' AssemblyVersion/AssemblyInformationalVersion, the wheels' METADATA, CHANGELOG.md;
  - the zip: every expected file present and non-empty (oauthmail.exe too when the workspace has
    the oauthmail-cli package), the DLLs' machine types, oauthmail.lib naming every export of
    windows/oauthmail.def for the right machine (llvm-readobj, llvm-nm), SHA256SUMS covering and
    matching every file;
  - the NuGet package: layout, the native files identical to the zip's DLLs and to the Linux
    library, the .targets parsing and naming files that are in the package, netstandard2.0
    referencing only netstandard and net462 only the .NET Framework;
  - the wheels: tag, RECORD (every file, its hash), the package with py.typed and the library at
    the place the module looks first, the same DLLs as the zip, the manylinux tag auditwheel
    confirms;
  - dist/SHA256SUMS.
"""
import base64
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PE_MACHINE = {"x64": 0x8664, "x86": 0x014C}


class Checker:
    def __init__(self, quiet=False):
        self.failures = []
        self.quiet = quiet

    def ok(self, cond, what):
        if cond:
            if not self.quiet:
                print(f"ok   {what}")
        else:
            self.failures.append(what)
            if not self.quiet:
                print(f"FAIL {what}")
        return cond


def cargo_version():
    text = open(os.path.join(REPO, "Cargo.toml"), encoding="utf-8").read()
    m = re.search(r'^\[package\]\s*\nname = "oauthmail"\s*\nversion = "([^"]+)"', text, re.MULTILINE)
    if not m:
        sys.exit("no [package] version in Cargo.toml")
    return m.group(1)


def has_cli():
    meta = json.loads(subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"], cwd=REPO,
                                     check=True, capture_output=True, text=True).stdout)
    return any(p["name"] == "oauthmail-cli" for p in meta["packages"])


def pep440(version):
    m = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(alpha|beta|rc)\.?(\d+)?)?(?:\+.*)?", version)
    base, pre, n = m.groups()
    return base + ({"alpha": "a", "beta": "b", "rc": "rc"}[pre] + (n or "0") if pre else "")


def def_exports():
    text = open(os.path.join(REPO, "windows", "oauthmail.def"), encoding="utf-8").read()
    return sorted(re.findall(r"^\s+(oauthmail_[a-z_]+)\s*$", text.split("EXPORTS", 1)[1], re.MULTILINE))


def pe_machine(data):
    if data[:2] != b"MZ":
        return None
    off = struct.unpack_from("<I", data, 0x3C)[0]
    if data[off:off + 4] != b"PE\0\0":
        return None
    return struct.unpack_from("<H", data, off + 4)[0]


def version_resource(data):
    """(file version tuple from VS_FIXEDFILEINFO, set of UTF-16 strings after FileVersion/ProductVersion)."""
    i = data.find(struct.pack("<I", 0xFEEF04BD))
    if i < 0:
        return None, set()
    ms, ls = struct.unpack_from("<II", data, i + 8)
    strings = set()
    for key in ("FileVersion", "ProductVersion"):
        for m in re.finditer(re.escape((key + "\0").encode("utf-16le")), data):
            j = m.end()
            while j < len(data) and data[j:j + 2] == b"\0\0":  # DWORD padding
                j += 2
            k = data.find(b"\0\0", j)
            while k >= 0 and (k - j) % 2:
                k = data.find(b"\0\0", k + 1)
            strings.add(data[j:k].decode("utf-16le", "replace"))
    return (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF), strings


def import_lib(c, path, arch):
    """oauthmail.lib: every .def export, for the right machine, with the right import name type."""
    data = open(path, "rb").read()
    c.ok(data[:8] == b"!<arch>\n", f"{arch}/oauthmail.lib is an ar archive")
    # Short import members (IMPORT_OBJECT_HEADER: Sig1 0, Sig2 0xFFFF, Version, Machine).
    machines, pos = set(), 8
    while pos + 60 <= len(data):
        size = int(data[pos + 48:pos + 58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        if body[:4] == b"\0\0\xff\xff":
            machines.add(struct.unpack_from("<H", body, 6)[0])
        pos += 60 + size + (size & 1)
    c.ok(machines == {PE_MACHINE[arch]}, f"{arch}/oauthmail.lib import members are for machine {PE_MACHINE[arch]:#06x} (found {sorted(hex(m) for m in machines)})")
    ro = subprocess.run(["llvm-readobj", path], capture_output=True, text=True, check=True).stdout
    want_arch = {"x64": "x86_64", "x86": "i386"}[arch]
    archs = set(re.findall(r"^Arch: (\S+)", ro, re.MULTILINE))
    c.ok(archs == {want_arch}, f"{arch}/oauthmail.lib objects are {want_arch} (llvm-readobj: {sorted(archs)})")
    prefix = "_" if arch == "x86" else ""
    # x86: the linker symbol is _name and the DLL export is looked up without the underscore.
    name_type = {"x64": "name", "x86": "noprefix"}[arch]
    members = re.findall(r"Name type: (\S+)\n((?:Symbol: \S+\n)+)", ro)
    symbols = sorted(s for _, syms in members for s in re.findall(r"Symbol: (\S+)", syms) if not s.startswith("__imp_"))
    want = sorted(prefix + n for n in def_exports())
    c.ok(symbols == want, f"{arch}/oauthmail.lib names every export of windows/oauthmail.def ({len(want)}), no more"
         + ("" if symbols == want else f": missing {sorted(set(want) - set(symbols))}, extra {sorted(set(symbols) - set(want))}"))
    c.ok({t for t, _ in members} == {name_type}, f"{arch}/oauthmail.lib import name type is {name_type}")
    nm = subprocess.run(["llvm-nm", path], capture_output=True, text=True, check=True).stdout
    imps = sorted(re.findall(r"^\S* *[A-Za-z] (__imp_\S+)$", nm, re.MULTILINE))
    c.ok(imps == sorted("__imp_" + s for s in want), f"{arch}/oauthmail.lib has the __imp_ symbol of each export (llvm-nm)")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_sums(c, files, sums_text, what):
    listed = {}
    for line in sums_text.splitlines():
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not c.ok(m is not None, f"{what}: line {line!r} is 'HASH  PATH'"):
            return
        listed[m.group(2)] = m.group(1)
    c.ok(set(listed) == set(files), f"{what} lists every file, and only those"
         + ("" if set(listed) == set(files) else f": unlisted {sorted(set(files) - set(listed))}, absent {sorted(set(listed) - set(files))}"))
    bad = [p for p, h in listed.items() if p in files and sha256(files[p]) != h]
    c.ok(not bad, f"{what}: every checksum matches" + (f" (not: {bad})" if bad else ""))


def read_zip(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}


def check_zip(c, path, version, cli):
    top = f"oauthmail-{version}-windows/"
    files = read_zip(path)
    c.ok(all(n.startswith(top) for n in files), f"zip: everything is under {top}")
    rel = {n[len(top):]: d for n, d in files.items() if n.startswith(top)}
    expected = ["README.txt", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE", "THIRD-PARTY-LICENSES.txt",
                "SHA256SUMS", "oauthmail.def", "include/oauthmail.h",
                "bindings/README.md", "bindings/pascal/OAuthMail.pas", "bindings/csharp/OAuthMail.cs",
                "bindings/cpp/oauthmail.hpp", "bindings/python/oauthmail/__init__.py", "bindings/python/oauthmail/py.typed",
                "docs/windows.md"]
    for doc in sorted(os.listdir(os.path.join(REPO, "docs"))):
        if doc.endswith((".en.md", ".ro.md")):
            expected.append("docs/" + doc)
    for arch in ("x64", "x86"):
        expected += [f"{arch}/oauthmail.dll", f"{arch}/oauthmail.lib", f"{arch}/liboauthmail.dll.a"]
        if cli:
            expected.append(f"{arch}/oauthmail.exe")
    missing = [e for e in expected if e not in rel]
    empty = [e for e in expected if e in rel and not rel[e] and not e.endswith("py.typed")]
    c.ok(not missing, f"zip: the {len(expected)} expected files are there" + (f" (missing: {missing})" if missing else ""))
    c.ok(not empty, "zip: none of them is empty" + (f" (empty: {empty})" if empty else ""))
    c.ok(any(d.endswith(".ro.md") for d in rel if d.startswith("docs/")) and any(d.endswith(".en.md") for d in rel if d.startswith("docs/")),
         "zip: docs in English and Romanian")
    if "SHA256SUMS" in rel:
        check_sums(c, {k: v for k, v in rel.items() if k != "SHA256SUMS"}, rel["SHA256SUMS"].decode(), "zip SHA256SUMS")
    if "include/oauthmail.h" in rel:
        check_header(c, rel["include/oauthmail.h"].decode(), version, "zip include/oauthmail.h")
    if "README.txt" in rel:
        c.ok(f"liboauthmail {version} for Windows" in rel["README.txt"].decode(), "zip README.txt names the version")
        for host in ("Delphi", "C++Builder", "Visual C++", ".NET"):
            c.ok(host in rel["README.txt"].decode(), f"zip README.txt has a {host} section")
    tp = rel.get("THIRD-PARTY-LICENSES.txt", b"").decode()
    c.ok(all(re.search(r"^  %s \d" % re.escape(crate), tp, re.MULTILINE) for crate in ("rustls", "ring", "serde", "lettre", "ureq", "windows-sys")),
         "zip THIRD-PARTY-LICENSES.txt covers the bundled crates (rustls, ring, serde, lettre, ureq, windows-sys, ...)")
    c.ok("Permission is hereby granted" in tp and "Apache License" in tp, "zip THIRD-PARTY-LICENSES.txt holds licence texts")
    if "CHANGELOG.md" in rel:
        c.ok(re.search(r"^## \[%s\]" % re.escape(version), rel["CHANGELOG.md"].decode(), re.MULTILINE) is not None,
             "zip CHANGELOG.md has a section for this version")
    for arch in ("x64", "x86"):
        dll = rel.get(f"{arch}/oauthmail.dll")
        if dll:
            c.ok(pe_machine(dll) == PE_MACHINE[arch], f"zip {arch}/oauthmail.dll is a PE for {arch}")
            check_dll_version(c, dll, version, f"zip {arch}/oauthmail.dll")
        exe = rel.get(f"{arch}/oauthmail.exe")
        if exe:
            c.ok(pe_machine(exe) == PE_MACHINE[arch], f"zip {arch}/oauthmail.exe is a PE for {arch}")
        if rel.get(f"{arch}/oauthmail.lib"):
            with tempfile.NamedTemporaryFile(suffix=".lib") as t:
                t.write(rel[f"{arch}/oauthmail.lib"])
                t.flush()
                import_lib(c, t.name, arch)
        dlla = rel.get(f"{arch}/liboauthmail.dll.a", b"")
        c.ok(dlla[:8] == b"!<arch>\n" and all(n.encode() in dlla for n in def_exports()),
             f"zip {arch}/liboauthmail.dll.a is an archive naming every export")
    return rel


def check_header(c, text, version, what):
    major, minor, patch = re.match(r"(\d+)\.(\d+)\.(\d+)", version).groups()
    for name, value in (("MAJOR", major), ("MINOR", minor), ("PATCH", patch), ("STRING", f'"{version}"')):
        c.ok(re.search(r"^#define OAUTHMAIL_VERSION_%s %s$" % (name, re.escape(value)), text, re.MULTILINE) is not None,
             f"{what}: OAUTHMAIL_VERSION_{name} is {value}")


def check_dll_version(c, dll, version, what):
    fixed, strings = version_resource(dll)
    major, minor, patch = (int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", version).groups())
    c.ok(fixed == (major, minor, patch, 0), f"{what}: version resource FILEVERSION is {major}.{minor}.{patch}.0 (found {fixed})")
    c.ok(strings == {version}, f"{what}: version resource FileVersion/ProductVersion strings are {version} (found {sorted(strings)})")


def ikdasm(data):
    with tempfile.NamedTemporaryFile(suffix=".dll") as t:
        t.write(data)
        t.flush()
        return subprocess.run(["ikdasm", t.name], capture_output=True, text=True, check=True).stdout


def check_nupkg(c, path, version, zip_rel, so):
    files = read_zip(path)
    expected = ["OAuthMail.nuspec", "[Content_Types].xml", "_rels/.rels", "README.md", "LICENSE-MIT", "LICENSE-APACHE",
                "THIRD-PARTY-LICENSES.txt", "lib/net462/OAuthMail.dll", "lib/net462/OAuthMail.xml",
                "lib/netstandard2.0/OAuthMail.dll", "lib/netstandard2.0/OAuthMail.xml",
                "runtimes/win-x64/native/oauthmail.dll", "runtimes/win-x86/native/oauthmail.dll",
                "runtimes/linux-x64/native/liboauthmail.so", "build/net462/OAuthMail.targets",
                "buildTransitive/net462/OAuthMail.targets"]
    missing = [e for e in expected if not files.get(e)]
    c.ok(not missing, f"nupkg: the {len(expected)} expected files are there and not empty" + (f" (missing: {missing})" if missing else ""))
    if files.get("OAuthMail.nuspec"):
        ns = {"n": "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"}
        meta = ET.fromstring(files["OAuthMail.nuspec"]).find("n:metadata", ns)
        c.ok(meta is not None and meta.findtext("n:id", None, ns) == "OAuthMail", "nupkg nuspec: id OAuthMail")
        c.ok(meta is not None and meta.findtext("n:version", None, ns) == version, f"nupkg nuspec: version {version}")
        groups = {g.get("targetFramework") for g in meta.iter("{%s}group" % ns["n"])} if meta is not None else set()
        c.ok(groups == {".NETFramework4.6.2", ".NETStandard2.0"}, "nupkg nuspec: dependency groups for net462 and netstandard2.0")
        c.ok(meta is not None and meta.findtext("n:license", None, ns) == "MIT OR Apache-2.0", "nupkg nuspec: licence expression")
    for rid, arch in (("win-x64", "x64"), ("win-x86", "x86")):
        f = files.get(f"runtimes/{rid}/native/oauthmail.dll")
        z = zip_rel.get(f"{arch}/oauthmail.dll")
        c.ok(f is not None and f == z, f"nupkg runtimes/{rid}/native/oauthmail.dll is the zip's {arch} DLL")
    c.ok(files.get("runtimes/linux-x64/native/liboauthmail.so") == so, "nupkg runtimes/linux-x64/native/liboauthmail.so is the Linux library")
    numeric = re.match(r"\d+\.\d+\.\d+", version).group(0)
    for tfm, refs in (("net462", {"mscorlib", "System", "System.Core"}), ("netstandard2.0", {"netstandard"})):
        dll = files.get(f"lib/{tfm}/OAuthMail.dll")
        if not dll:
            continue
        il = ikdasm(dll)
        ext = set(re.findall(r"^\.assembly extern (\S+)", il, re.MULTILINE))
        c.ok(ext and ext <= refs and (tfm != "netstandard2.0" or ext == refs), f"nupkg lib/{tfm}: references only {sorted(refs)} (found {sorted(ext)})")
        own = il.split(".assembly OAuthMail", 1)[-1].split("\n}", 1)[0]
        c.ok(re.search(r"\.ver %s:0$" % numeric.replace(".", ":"), own, re.MULTILINE) is not None, f"nupkg lib/{tfm}: AssemblyVersion {numeric}.0")
        c.ok(f'AssemblyInformationalVersion' in own and version.encode().hex().upper() in own.replace(" ", "").split("AssemblyInformationalVersion", 1)[1].split("\n", 1)[0],
             f"nupkg lib/{tfm}: AssemblyInformationalVersion {version}")
    t = files.get("build/net462/OAuthMail.targets")
    if t:
        root = ET.fromstring(t)
        includes = [n.get("Include") for n in root.iter() if n.get("Include")]
        base = "build/net462/"
        resolved = [os.path.normpath(base + i.replace("$(OAuthMailNativeRoot)", "../../runtimes/").replace("\\", "/")) for i in includes]
        c.ok(len(includes) == 4 and all(r in files for r in resolved), f"nupkg .targets: its {len(includes)} items name files in the package")
        c.ok(files.get("buildTransitive/net462/OAuthMail.targets") == t, "nupkg buildTransitive targets = build targets")


def check_wheel(c, path, version, platform, lib_expected):
    name = os.path.basename(path)
    files = read_zip(path)
    info = f"oauthmail-{version}.dist-info/"
    c.ok(name == f"oauthmail-{version}-py3-none-{platform}.whl", f"wheel {name}: version {version} and platform {platform} in the name")
    meta = files.get(info + "METADATA", b"").decode()
    c.ok(re.search(r"^Version: %s$" % re.escape(version), meta, re.MULTILINE) is not None, f"wheel {platform}: METADATA Version {version}")
    c.ok(re.search(r"^Name: oauthmail$", meta, re.MULTILINE) is not None, f"wheel {platform}: METADATA Name oauthmail")
    wheel = files.get(info + "WHEEL", b"").decode()
    c.ok(f"Tag: py3-none-{platform}\n" in wheel and "Root-Is-Purelib: false" in wheel, f"wheel {platform}: WHEEL tag py3-none-{platform}, platlib")
    record = files.get(info + "RECORD", b"").decode()
    rows = {r[0]: r for r in csv.reader(io.StringIO(record)) if r}
    c.ok(set(rows) == set(files), f"wheel {platform}: RECORD lists every file")
    bad = [p for p, r in rows.items() if p != info + "RECORD" and p in files and
           r[1] != "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(files[p]).digest()).rstrip(b"=").decode()]
    c.ok(not bad, f"wheel {platform}: RECORD hashes match" + (f" (not: {bad})" if bad else ""))
    lib_name = "oauthmail.dll" if platform.startswith("win") else "liboauthmail.so"
    for need in ("oauthmail/__init__.py", "oauthmail/py.typed", "oauthmail/" + lib_name, info + "LICENSE-MIT",
                 info + "LICENSE-APACHE", info + "THIRD-PARTY-LICENSES.txt"):
        c.ok(need in files, f"wheel {platform}: has {need}")
    c.ok(files.get("oauthmail/" + lib_name) == lib_expected, f"wheel {platform}: oauthmail/{lib_name} is the packaged library")
    return files


def check_dist(dist, quiet=False, version=None, cli=None):
    c = Checker(quiet)
    version = version or cargo_version()
    cli = has_cli() if cli is None else cli
    pyv = pep440(version)
    if not quiet:
        print(f"Cargo.toml: oauthmail {version}; oauthmail-cli in the workspace: {'yes' if cli else 'no'}")
    check_header(c, open(os.path.join(REPO, "include", "oauthmail.h"), encoding="utf-8").read(), version, "include/oauthmail.h")
    c.ok(re.search(r"^## \[%s\]" % re.escape(version), open(os.path.join(REPO, "CHANGELOG.md"), encoding="utf-8").read(), re.MULTILINE) is not None,
         f"CHANGELOG.md has a section for {version}")
    names = sorted(os.listdir(dist))
    zipname, nupkg = f"oauthmail-{version}-windows.zip", f"OAuthMail.{version}.nupkg"
    linux = [n for n in names if fnmatch.fnmatch(n, f"oauthmail-{pyv}-py3-none-manylinux_*_x86_64.whl")]
    want = [zipname, nupkg, f"oauthmail-{pyv}-py3-none-win_amd64.whl", f"oauthmail-{pyv}-py3-none-win32.whl", "SHA256SUMS"]
    for w in want:
        c.ok(w in names, f"dist/{w} is there")
    c.ok(len(linux) == 1, f"dist/ has one manylinux wheel for {pyv} ({linux})")
    c.ok(len(names) == len(want) + 1, f"dist/ holds those {len(want) + 1} files and nothing else ({names})")
    if "SHA256SUMS" in names:
        check_sums(c, {n: open(os.path.join(dist, n), "rb").read() for n in names if n != "SHA256SUMS"},
                   open(os.path.join(dist, "SHA256SUMS")).read(), "dist/SHA256SUMS")
    zip_rel = check_zip(c, os.path.join(dist, zipname), version, cli) if zipname in names else {}
    so = None
    if len(linux) == 1:
        tag = re.search(r"py3-none-(manylinux_\d+_\d+_x86_64)\.whl$", linux[0]).group(1)
        lw = os.path.join(dist, linux[0])
        so = read_zip(lw).get("oauthmail/liboauthmail.so")
        check_wheel(c, lw, pyv, tag, so)
        c.ok(so is not None and pe_machine(so) is None and so[:4] == b"\x7fELF", "wheel linux: the library is an ELF file")
        r = subprocess.run([sys.executable, "-m", "auditwheel", "show", lw], capture_output=True, text=True)
        out = " ".join((r.stdout + r.stderr).split())
        c.ok(f'consistent with the following platform tag: "{tag}"' in out, f"auditwheel show: the library is consistent with {tag}")
        if so:
            with tempfile.NamedTemporaryFile(suffix=".so") as t:
                t.write(so)
                t.flush()
                dyn = subprocess.run(["readelf", "-d", t.name], capture_output=True, text=True).stdout
            major = version.split(".")[0]
            c.ok(f"Library soname: [liboauthmail.so.{major}]" in dyn, f"the Linux library's soname is liboauthmail.so.{major} (readelf -d)")
    for plat, arch in (("win_amd64", "x64"), ("win32", "x86")):
        p = os.path.join(dist, f"oauthmail-{pyv}-py3-none-{plat}.whl")
        if os.path.exists(p):
            files = check_wheel(c, p, pyv, plat, zip_rel.get(f"{arch}/oauthmail.dll"))
            dll = files.get("oauthmail/oauthmail.dll")
            c.ok(dll is not None and pe_machine(dll) == PE_MACHINE[arch], f"wheel {plat}: the DLL is a PE for {arch}")
    if nupkg in names:
        check_nupkg(c, os.path.join(dist, nupkg), version, zip_rel, so)
    return c


def rewrite_zip(src, dst, drop=(), change=None):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for i in zi.infolist():
            if i.filename in drop:
                continue
            data = zi.read(i)
            if change and i.filename in change:
                data = change[i.filename](data)
            zo.writestr(i, data)


def selftest(dist):
    version = cargo_version()
    pyv = pep440(version)
    cli = has_cli()
    baseline = check_dist(dist, quiet=True, version=version, cli=cli)
    if baseline.failures:
        sys.exit("selftest: the real dist/ does not pass: " + "; ".join(baseline.failures))
    zipname, nupkg = f"oauthmail-{version}-windows.zip", f"OAuthMail.{version}.nupkg"
    top = f"oauthmail-{version}-windows/"
    cases = [
        ("the zip without x86/oauthmail.lib", zipname, dict(drop={top + "x86/oauthmail.lib"}), "x86/oauthmail.lib"),
        ("the zip without a Romanian guide", zipname, dict(drop={top + "docs/troubleshooting.ro.md"}), "troubleshooting.ro.md"),
        ("the zip with the x64 oauthmail.lib in x86/", zipname,
         dict(change={top + "x86/oauthmail.lib": lambda d: read_zip(os.path.join(dist, zipname))[top + "x64/oauthmail.lib"]}), "machine"),
        ("the zip with a DLL changed after SHA256SUMS", zipname,
         dict(change={top + "x64/oauthmail.dll": lambda d: d[:-1] + bytes([d[-1] ^ 1])}), "checksum"),
        ("the nupkg without its .targets", nupkg, dict(drop={"build/net462/OAuthMail.targets"}), "OAuthMail.targets"),
        ("the nupkg with another nuspec version", nupkg,
         dict(change={"OAuthMail.nuspec": lambda d: d.replace(f"<version>{version}</version>".encode(), b"<version>9.9.9</version>")}), "version"),
        ("the win32 wheel without py.typed", f"oauthmail-{pyv}-py3-none-win32.whl", dict(drop={"oauthmail/py.typed"}), "py.typed"),
        ("the win_amd64 wheel with another METADATA version", f"oauthmail-{pyv}-py3-none-win_amd64.whl",
         dict(change={f"oauthmail-{pyv}.dist-info/METADATA": lambda d: d.replace(f"Version: {pyv}".encode(), b"Version: 9.9.9")}), "Version"),
    ]
    passed = failed = 0
    for what, name, how, expect in cases:
        with tempfile.TemporaryDirectory() as tmp:
            for n in os.listdir(dist):
                if n != name:
                    shutil.copy(os.path.join(dist, n), tmp)
            rewrite_zip(os.path.join(dist, name), os.path.join(tmp, name), **how)
            # dist/SHA256SUMS is rewritten so that only the doctored package's own checks can catch it.
            with open(os.path.join(tmp, "SHA256SUMS"), "w") as f:
                for n in sorted(os.listdir(tmp)):
                    if n != "SHA256SUMS":
                        f.write(f"{sha256(open(os.path.join(tmp, n), 'rb').read())}  {n}\n")
            c = check_dist(tmp, quiet=True, version=version, cli=cli)
            hit = [f for f in c.failures if expect in f]
            if hit:
                passed += 1
                print(f"ok   refused {what}: {hit[0]}")
            else:
                failed += 1
                print(f"FAIL {what} passed the checks (failures: {c.failures})")
    # A version bump in Cargo.toml that the packages do not follow.
    c = check_dist(dist, quiet=True, version="9.9.9", cli=cli)
    if any("9.9.9" in f for f in c.failures):
        passed += 1
        print(f"ok   refused packages whose version is not Cargo.toml's ({len(c.failures)} failures)")
    else:
        failed += 1
        print("FAIL packages of another version passed the checks")
    print(f"selftest: {passed} passed, {failed} failed")
    return failed == 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--selftest":
        sys.exit(0 if selftest(args[1]) else 1)
    if len(args) != 1:
        sys.exit(__doc__)
    c = check_dist(args[0])
    print(f"dist check: {len(c.failures)} failed")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
