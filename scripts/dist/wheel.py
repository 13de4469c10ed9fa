#!/usr/bin/env python3
"""Builds the Python wheels: the package bindings/python/oauthmail/ (py.typed included) with the
native library copied into the package directory, where the module looks first.

    wheel.py --version V --out DIR --stage DIR [--licence FILE]... PLATFORM:LIBRARY...

PLATFORM is `linux` (the manylinux tag is the one `auditwheel show` finds the library consistent
with: an honest tag for the glibc symbol versions it needs), `win_amd64` or `win32`. The
.dist-info (METADATA, WHEEL, the licences) is written here; RECORD and the archive are made by
`wheel pack` (pypa/wheel), the standard tool, rather than by hand.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(REPO, "bindings", "python", "oauthmail")
LIB_NAME = {"linux": "liboauthmail.so", "win_amd64": "oauthmail.dll", "win32": "oauthmail.dll"}


def pep440(version):
    """Cargo's semver (1.2.3, 1.2.3-beta.2, 1.2.3-rc.1) as a PEP 440 version (1.2.3b2, 1.2.3rc1)."""
    m = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(alpha|beta|rc)\.?(\d+)?)?(?:\+.*)?", version)
    if not m:
        sys.exit(f"cannot express version {version} for Python")
    base, pre, n = m.groups()
    return base + ({"alpha": "a", "beta": "b", "rc": "rc"}[pre] + (n or "0") if pre else "")


METADATA = """Metadata-Version: 2.1
Name: oauthmail
Version: {version}
Summary: Send mail through Gmail with OAuth 2.0 (Gmail API or SMTP XOAUTH2): the Python binding of liboauthmail, native library included
License: MIT OR Apache-2.0
Requires-Python: >=3.8
Classifier: License :: OSI Approved :: MIT License
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Programming Language :: Python :: 3
Classifier: Topic :: Communications :: Email
Classifier: Typing :: Typed
Description-Content-Type: text/markdown

# oauthmail

Authorize a Gmail account once (system browser, loopback redirect, PKCE), then send through the
Gmail API or Gmail SMTP (XOAUTH2). The native library (liboauthmail) is inside the package:
nothing else to install. `oauthmail.Client(config)` with `authorize()`, `refresh()`, `send()`,
`revoke()`, `cancel()`; documents are `dict`s; errors raise `oauthmail.OAuthMailError`.
Set `OAUTHMAIL_LIBRARY` only to use another build of the library.
"""

WHEEL = """Wheel-Version: 1.0
Generator: liboauthmail scripts/dist/wheel.py
Root-Is-Purelib: false
Tag: py3-none-{platform}
"""


def build(version, platform, library, stage, out, licences):
    root = os.path.join(stage, platform)
    shutil.rmtree(root, ignore_errors=True)
    pkg = os.path.join(root, "oauthmail")
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for required in ("__init__.py", "py.typed"):
        if not os.path.isfile(os.path.join(pkg, required)):
            sys.exit(f"bindings/python/oauthmail/{required} is missing")
    kind = "linux" if platform.startswith(("manylinux", "linux")) else platform
    shutil.copy(library, os.path.join(pkg, LIB_NAME[kind]))
    info = os.path.join(root, f"oauthmail-{version}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(METADATA.format(version=version))
    with open(os.path.join(info, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(WHEEL.format(platform=platform))
    for lic in licences:
        shutil.copy(lic, info)
    subprocess.run([sys.executable, "-m", "wheel", "pack", "-d", out, root], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out, f"oauthmail-{version}-py3-none-{platform}.whl")


def manylinux_tag(wheel_path):
    r = subprocess.run([sys.executable, "-m", "auditwheel", "show", wheel_path], capture_output=True, text=True)
    text = " ".join((r.stdout + r.stderr).split())
    m = re.search(r'consistent with the following platform tag: "(manylinux_\d+_\d+_x86_64)"', text)
    if r.returncode != 0 or not m:
        sys.exit("auditwheel show found no manylinux tag:\n" + r.stdout + r.stderr)
    return m.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stage", required=True)
    ap.add_argument("--licence", action="append", default=[])
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    version = pep440(a.version)
    for spec in a.targets:
        platform, library = spec.split(":", 1)
        if platform == "linux":
            provisional = build(version, "linux_x86_64", library, a.stage, a.stage, a.licence)
            tag = manylinux_tag(provisional)
            os.remove(provisional)
            path = build(version, tag, library, a.stage, a.out, a.licence)
        else:
            path = build(version, platform, library, a.stage, a.out, a.licence)
        if not os.path.isfile(path):
            sys.exit(f"wheel pack did not write {path}")
        print(f"[dist] {os.path.basename(path)}")


if __name__ == "__main__":
    main()
