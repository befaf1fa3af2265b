#!/usr/bin/env python3
"""Import cycles between the modules of a crate, from `cargo modules dependencies` output.

Every item is charged to the module that holds it; a "uses" edge between items in two
different modules is an edge between those modules (a module using its own descendants' or
ancestors' items is not a cycle of siblings and is left out). Prints each strongly connected
group of two or more modules and exits 1 when there is one.

    cargo modules dependencies --package vlm-inspect --lib --no-externs --no-sysroot \
        | python3 scripts/module-cycles.py
"""
import re
import sys

text = sys.stdin.read()
kinds = dict(re.findall(r'^\s*"([^"]+)" \[label="[^|]*\|[^"]*".*// "(\w+)" node', text, re.M))
modules = {n for n, k in kinds.items() if k in ("mod", "crate")}


def module_of(node):
    parts = node.split("::")
    while parts and "::".join(parts) not in modules:
        parts.pop()
    return "::".join(parts)


def related(a, b):
    return a == b or a.startswith(b + "::") or b.startswith(a + "::")


graph = {m: set() for m in modules}
for src, dst in re.findall(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"', text, re.M):
    a, b = module_of(src), module_of(dst)
    if a and b and not related(a, b):
        graph[a].add(b)

# Tarjan's strongly connected components.
index, low, stack, on, groups = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            groups.append(sorted(group))


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)
edges = sum(len(v) for v in graph.values())
print(f"{len(modules)} modules, {edges} module-to-module use edges")
for g in groups:
    print("cycle:", " <-> ".join(g))
sys.exit(1 if groups else 0)
