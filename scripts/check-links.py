#!/usr/bin/env python3
"""check-links.py -- every relative link in the Markdown documents points
at a file inside the repository (ctest check/links).

usage: check-links.py REPO_ROOT
Reads README.md, BENCHMARKS.md and docs/**/*.md; prints each link whose
target is missing or outside the tree, and exits 1 if there is any.
Links with a scheme (https:, mailto:) and pure anchors are not checked.
"""
import glob
import os
import re
import sys


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    files = [os.path.join(root, f) for f in ("README.md", "BENCHMARKS.md")]
    files += glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True)
    bad = 0
    for f in files:
        if not os.path.exists(f):
            continue
        text = open(f, encoding="utf-8").read()
        for m in re.finditer(r"\]\(([^)#\s]*)(#[^)]*)?\)", text):
            target = m.group(1)
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(f), target))
            rel = os.path.relpath(path, root)
            if rel.startswith("..") or not os.path.exists(path):
                print("%s: link to %s %s" % (
                    os.path.relpath(f, root), target,
                    "leaves the repository" if rel.startswith("..")
                    else "points at nothing"))
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
