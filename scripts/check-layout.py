#!/usr/bin/env python3
"""check-layout.py -- the layout rules of issue 7, as a repository check.

1. The include graph of the project's modules has no cycle. A module is
   a pair x.c + x.h anywhere under server/, common/ and client/ (a file
   alone is a module too); module A depends on B when a file of A
   includes "B.h". Generated code (gen/) and system headers are not
   modules.
2. No file under server/ is longer than MAX_LINES lines.
3. The call engine (server/call.[ch]) names no gRPC method: no string
   literal of the form "/pkg.Service/Method".
4. common/ depends on nothing else of the project.

Exits 1 listing every violation; prints the module count otherwise.
usage: check-layout.py [SOURCE_DIR]
"""
import os
import re
import sys

MAX_LINES = 900
ROOTS = ("server", "common", "client")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
METHOD = re.compile(r'"/[A-Za-z_][A-Za-z0-9_.]*\.[A-Za-z0-9_]+/[A-Za-z0-9_]+"')


def files(top):
    for root in ROOTS:
        for dirpath, _, names in os.walk(os.path.join(top, root)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(dirpath, n)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    problems = []
    module_of = {}  # header basename -> module key
    paths = list(files(top))
    for p in paths:
        rel = os.path.relpath(p, top)
        key = os.path.splitext(rel)[0]
        if p.endswith(".h"):
            module_of.setdefault(os.path.basename(p), key)
    deps = {}
    for p in paths:
        rel = os.path.relpath(p, top)
        key = os.path.splitext(rel)[0]
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        deps.setdefault(key, set())
        for inc in INCLUDE.findall(text):
            dep = module_of.get(os.path.basename(inc))
            if dep and dep != key:
                deps[key].add(dep)
        if rel.startswith("server" + os.sep):
            n = text.count("\n")
            if n > MAX_LINES:
                problems.append("%s: %d lines (at most %d)" %
                                (rel, n, MAX_LINES))
        if os.path.basename(rel) in ("call.c", "call.h") and \
                rel.startswith("server"):
            for m in METHOD.findall(text):
                problems.append("%s names the method %s" % (rel, m))

    for key, ds in deps.items():
        if key.startswith("common" + os.sep):
            for d in sorted(ds):
                if not d.startswith("common" + os.sep):
                    problems.append("%s depends on %s (common/ is a leaf)" %
                                    (key, d))

    # Cycles: depth-first search with colours; report each back edge's loop.
    colour, stack, seen_cycles = {}, [], set()

    def visit(k):
        colour[k] = 1
        stack.append(k)
        for d in sorted(deps.get(k, ())):
            if colour.get(d) == 1:
                loop = stack[stack.index(d):] + [d]
                sig = frozenset(loop)
                if sig not in seen_cycles:
                    seen_cycles.add(sig)
                    problems.append("include cycle: " + " -> ".join(loop))
            elif d in deps and colour.get(d) is None:
                visit(d)
        stack.pop()
        colour[k] = 2

    sys.setrecursionlimit(10000)
    for k in sorted(deps):
        if colour.get(k) is None:
            visit(k)

    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    print("layout ok: %d modules, no include cycle, no server file over %d "
          "lines" % (len(deps), MAX_LINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
