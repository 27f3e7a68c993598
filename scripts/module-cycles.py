#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a cycle.

For every crate in the workspace, module A depends on module B when A's code (comments and
`#[cfg(test)]` parts left out) names `crate::B...`. Two modules are compared at the level where
their paths part, so `controller::run -> controller::server` is an edge between siblings and
`build::mesh -> controller::status` an edge between `build` and `controller`. Any strongly
connected group of more than one module is printed and the exit status is 1.

It reads text, not the compiler's resolution: `use super::x` is not followed, which keeps the
check to what a reader sees at the top of a file.
"""
import os
import re
import subprocess
import sys

CRATE_PATH = re.compile(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")


def module_files(src):
    """Maps each .rs file under src to its module path ('' for the crate root)."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[0] == "bin":
                continue
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            found[path] = "::".join(parts)
    return found


def code_of(path):
    text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
    return "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))


def edges(files):
    known = set(files.values())
    graph = {}
    for path, here in files.items():
        for ref in CRATE_PATH.findall(code_of(path)):
            parts = ref.split("::")
            target = next(
                ("::".join(parts[:k]) for k in range(len(parts), 0, -1) if "::".join(parts[:k]) in known),
                None,
            )
            if target is None:
                continue
            a, b = (here.split("::") if here else []), target.split("::")
            i = 0
            while i < min(len(a), len(b)) and a[i] == b[i]:
                i += 1
            if i < len(a) and i < len(b):
                graph.setdefault("::".join(a[: i + 1]), set()).add("::".join(b[: i + 1]))
    return graph


def cycles(graph):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main():
    manifests = subprocess.check_output(["git", "ls-files", "*Cargo.toml"], text=True).split()
    total = 0
    for manifest in manifests:
        src = os.path.join(os.path.dirname(manifest) or ".", "src")
        if not os.path.isdir(src):
            continue
        for group in cycles(edges(module_files(src))):
            print(f"{os.path.dirname(manifest)}: import cycle among {', '.join(group)}")
            total += 1
    print(f"module-cycles: {total} import cycle(s) in {len(manifests)} manifests")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
