#!/usr/bin/env python3
"""The module graph of src/ from its `crate::…` and `super::…` paths, and its cycles.

Each .rs file under src/ is a node (src/foo.rs and src/foo/mod.rs are `foo`; src/foo/bar.rs is
`foo::bar`). An edge A -> B is any path to B written in A outside comments (`use crate::b`,
`crate::b::f()`, `use crate::{b, c}`), test modules included. A module and its own submodules
are one room: edges between them are not counted. `--edges` prints the graph. Exits 1 and names
each cycle if there is one, or a module other than ffi that imports the client facade.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, "::")
    if rel.endswith("::mod"):
        rel = rel[: -len("::mod")]
    return "crate" if rel == "lib" else rel


files = {}
for d, _, names in os.walk(ROOT):
    for n in names:
        if n.endswith(".rs"):
            files[module_of(os.path.join(d, n))] = os.path.join(d, n)
modules = set(files)


def resolve(path):
    """The longest known module that `path` (a::b::c) starts with."""
    parts = path.split("::")
    for i in range(len(parts), 0, -1):
        m = "::".join(parts[:i])
        if m in modules:
            return m
    return None


def code_only(text):
    """The text without comments (line and block); string literals are kept as they are."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out)


PATH = r"((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)"
edges = {m: set() for m in modules}
for m, path in files.items():
    text = code_only(open(path, encoding="utf-8").read())
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
        for item in group.split(","):
            item = item.strip().split(" ")[0].split("::{")[0]
            t = resolve(item) if item else None
            if t:
                edges[m].add(t)
    for p in re.findall(r"\bcrate::" + PATH, text):
        t = resolve(p)
        if t:
            edges[m].add(t)
    parent = m.split("::")[:-1]
    for p in re.findall(r"\bsuper::" + PATH, text):
        t = resolve("::".join(parent + p.split("::")))
        if t:
            edges[m].add(t)


def same_room(a, b):
    return a == b or a.startswith(b + "::") or b.startswith(a + "::")


for m in modules:
    edges[m] = {t for t in edges[m] if not same_room(m, t) and t != "crate"}

if "--edges" in sys.argv:
    for m in sorted(edges):
        print(f"{m} -> {', '.join(sorted(edges[m])) or '-'}")

# Tarjan's strongly connected components: any component of more than one module is a cycle.
index, low, on_stack, stack, cycles = {}, {}, set(), [], []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))


for v in sorted(modules):
    if v not in index:
        visit(v)
for c in cycles:
    print("cycle:", " <-> ".join(c))
# The client is the facade: the C boundary calls it, the domain never reaches back up to it.
reaching_up = sorted(m for m in modules if "client" in edges[m] and m.split("::")[0] != "ffi")
for m in reaching_up:
    print(f"{m} imports the client facade (only ffi may)")
if cycles or reaching_up:
    sys.exit(1)
print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} edges, no cycle")
