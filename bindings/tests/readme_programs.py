#!/usr/bin/env python3
"""Checks that every program shown in bindings/README.md is, byte for byte, the file the tests
compile and run (scripts/test.d/50-bindings.sh, "readme-program" steps).

    readme_programs.py bindings/README.md

A program is marked in the README as

    <!-- program: python/readme_example.py -->
    ```python
    ...the file's content...
    ```

(paths relative to bindings/). Exit status 0 when every marked block matches its file and every
bindings/*/readme_example* file is shown.
"""
import glob
import os
import re
import sys

readme = sys.argv[1]
root = os.path.dirname(os.path.abspath(readme))
text = open(readme, encoding="utf-8").read()
blocks = re.findall(r"<!-- program: (\S+) -->\n```[a-z+#]*\n(.*?)```\n", text, re.S)
problems = []
shown = set()
for path, body in blocks:
    shown.add(path)
    full = os.path.join(root, path)
    if not os.path.exists(full):
        problems.append(f"{path}: shown in the README but missing")
        continue
    if open(full, encoding="utf-8").read() != body:
        problems.append(f"{path}: the README's copy differs from the file")
for full in glob.glob(os.path.join(root, "*", "readme_example*")) + glob.glob(os.path.join(root, "*", "ReadmeExample*")):
    rel = os.path.relpath(full, root)
    if rel not in shown:
        problems.append(f"{rel}: not shown in the README")
for p in problems:
    print("FAIL: " + p)
print(f"{len(blocks)} README programs checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
