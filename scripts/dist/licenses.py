#!/usr/bin/env python3
"""Writes THIRD-PARTY-LICENSES.txt: every crate compiled into the shipped binaries for the given
targets (normal dependencies only: no build or dev dependencies, no proc macros), found by `cargo license`, with
its licence expression and the text of each licence file the crate ships.

    licenses.py [--manifest PATH]... TARGET... > THIRD-PARTY-LICENSES.txt

Each --manifest (default: Cargo.toml, the library) is a shipped package whose dependencies count:
cli/Cargo.toml too when oauthmail.exe is in the zip.

A crate that ships no licence file gets the standard text of its licence from LICENSE-MIT /
LICENSE-APACHE when its expression allows one of those; otherwise this fails, so nothing ships
without its licence text.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT|UNLICENSE)([-_.].*)?$", re.IGNORECASE)


def run_json(args):
    return json.loads(subprocess.run(args, cwd=REPO, check=True, capture_output=True, text=True).stdout)


def linked(manifest, target):
    """(name, version) of every package compiled into the binary: the normal-dependency closure of
    the manifest's package for the target, not entering proc macros (they run in the compiler;
    cargo license's --avoid-proc-macros also drops serde, serde_json and thiserror, which are linked)."""
    meta = run_json(["cargo", "metadata", "--format-version", "1", "--manifest-path", manifest, "--filter-platform", target])
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    seen, todo = set(), [meta["resolve"]["root"]]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            normal = any(k["kind"] is None for k in dep["dep_kinds"])
            macro = any("proc-macro" in t["kind"] for t in pkgs[dep["pkg"]]["targets"])
            if normal and not macro:
                todo.append(dep["pkg"])
    return {(pkgs[i]["name"], pkgs[i]["version"]) for i in seen}


def main(manifests, targets):
    crates = {}
    for manifest in manifests:
        for target in targets:
            keep = linked(manifest, target)
            for c in run_json(["cargo", "license", "--json", "--avoid-build-deps", "--avoid-dev-deps",
                               "--manifest-path", manifest, "--filter-platform", target]):
                if (c["name"], c["version"]) in keep:
                    crates.setdefault((c["name"], c["version"]), c).setdefault("targets", set()).add(target)
            missing = keep - set(crates) - {(n, v) for n, v in keep if n.startswith("oauthmail")}
            if missing:
                sys.exit(f"cargo license did not list {sorted(missing)}")
    meta = run_json(["cargo", "metadata", "--format-version", "1", "--locked"])
    workspace = {p["name"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    dirs = {(p["name"], p["version"]): os.path.dirname(p["manifest_path"]) for p in meta["packages"]}
    entries = []
    for key in sorted(crates):
        name, version = key
        if name in workspace:
            continue
        c = crates[key]
        expr = c.get("license") or ""
        d = dirs[key]
        files = sorted(f for f in os.listdir(d) if LICENCE_FILE.match(f) and os.path.isfile(os.path.join(d, f)))
        if c.get("license_file"):
            lf = c["license_file"]
            if lf not in files and os.path.isfile(os.path.join(d, lf)):
                files.append(lf)
        texts = [(f, open(os.path.join(d, f), encoding="utf-8", errors="replace").read().strip()) for f in files]
        if not texts:
            fallback = [("MIT", "LICENSE-MIT"), ("Apache-2.0", "LICENSE-APACHE")]
            hit = next(((spdx, path) for spdx, path in fallback if re.search(r"\b%s\b" % re.escape(spdx), expr)), None)
            if hit is None:
                sys.exit(f"{name} {version} ({expr}) ships no licence file and has no standard text here")
            text = open(os.path.join(REPO, hit[1]), encoding="utf-8").read().strip()
            # Our LICENSE-MIT names this project's authors: keep only the licence's own words.
            text = re.sub(r"^Copyright.*\n+", "", text, flags=re.MULTILINE)
            texts = [(f"the {hit[0]} licence (the crate ships no licence file; standard text)", text)]
        if not expr:
            sys.exit(f"{name} {version} declares no licence")
        entries.append((name, version, expr, c.get("repository") or "", sorted(set(c["targets"])), texts))

    out = sys.stdout
    out.write("Third-party software in liboauthmail\n====================================\n\n")
    out.write(textwrap.fill(
        "The liboauthmail library (oauthmail.dll, liboauthmail.so, liboauthmail.a)"
        + (" and the oauthmail command-line tool (oauthmail.exe)" if len(manifests) > 1 else "")
        + " contain the following Rust crates, compiled in. Each is listed with its licence"
        " expression; the texts follow. liboauthmail itself is MIT OR Apache-2.0 (LICENSE-MIT,"
        " LICENSE-APACHE).", 78) + "\n\n")
    for name, version, expr, repo, tg, _ in entries:
        out.write(f"  {name} {version}: {expr}{'  ' + repo if repo else ''}\n")
    out.write(f"\n{len(entries)} crates.\n")
    for name, version, expr, repo, tg, texts in entries:
        out.write("\n" + "=" * 78 + f"\n{name} {version} ({expr})\n")
        if len(tg) < len(targets):
            out.write("only in the builds for: " + ", ".join(tg) + "\n")
        for fname, text in texts:
            out.write("-" * 78 + f"\n{fname}:\n\n{text}\n")


if __name__ == "__main__":
    args, manifests = sys.argv[1:], []
    while len(args) >= 2 and args[0] == "--manifest":
        manifests.append(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    main(manifests or ["Cargo.toml"], args)
