#!/usr/bin/env python3
"""Prints the module graph's cycles of the crate under src/ and exits 1 when there is one.

A module is a file (src/a/b.rs or src/a/b/mod.rs -> a::b). An edge A -> B is a `crate::B...` or
`super::...` path in A's code outside its `#[cfg(test)]` module (tests may reach anywhere), resolved
to the longest module prefix that exists. A child's use of its parent module (`super::X` naming an
item of mod.rs) counts like any other import: a parent that re-exports or imports its child and a
child that imports its parent make a cycle.

Usage: scripts/module-cycles.py [--top] [--graph]\n  --top: fold modules into their top-level module (source, sink, event...)\n  --graph: also print every edge
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def modules():
    found = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            name = "::".join(parts)
            found[name] = os.path.join(dirpath, f)
    return found


def strip_tests(text):
    """The text before a `#[cfg(test)]` module (tests come last in this crate's files)."""
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


PATH = re.compile(r"\b(crate|super)((?:::\s*[A-Za-z_][A-Za-z0-9_]*)*)(::\s*\{)?")


def paths(text):
    """Every `crate::...`/`super::...` path in `text`, with use-tree braces expanded
    (`crate::a::{b::C, d}` gives `::a::b::C` and `::a::d`)."""
    for m in PATH.finditer(text):
        kind, rest, brace = m.group(1), m.group(2), m.group(3)
        if not brace:
            yield kind, rest
            continue
        depth, i, start = 1, m.end(), m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        for branch in split_tree(text[start : i - 1]):
            yield kind, rest + "::" + branch


def split_tree(inner):
    """The leaf paths of a use tree's inside (`b::{C, D}, e` -> `b::C`, `b::D`, `e`)."""
    out, depth, cur = [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            cur = cur.strip()
            if cur:
                m = re.match(r"^([^{]*?)::\s*\{(.*)\}$", cur, re.S)
                if m:
                    out += [m.group(1).strip() + "::" + leaf for leaf in split_tree(m.group(2))]
                else:
                    out.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    return out


def resolve(current, kind, rest, mods):
    segs = [s.strip(" {") for s in rest.split("::") if s.strip(" {")]
    if kind == "crate":
        base = []
    else:
        base = current.split("::") if current else []
        base = base[:-1]
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    best = None
    for i in range(len(segs) + 1):
        cand = "::".join(base + segs[:i])
        if cand in mods:
            best = cand
    return best


def graph():
    mods = modules()
    edges = {m: set() for m in mods}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            text = strip_comments(strip_tests(fh.read()))
        for kind, rest in paths(text):
            target = resolve(name, kind, rest, mods)
            if target is None or target == name or target == "":
                continue
            # A parent naming its own child (`mod x; pub use x::Y`) is how Rust declares modules,
            # not a dependency on the child's code paths; a child naming its parent is.
            edges[name].add(target)
    # Declarations: mod.rs/lib.rs do not depend on children through `mod` lines (not matched).
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def top_level(edges):
    """The same graph with every module folded into its top-level module (source::ack -> source)."""
    top = lambda m: m.split("::")[0]
    folded = {}
    for a, targets in edges.items():
        folded.setdefault(top(a), set()).update(top(b) for b in targets if top(b) != top(a))
    return folded


def main():
    edges = graph()
    if "--top" in sys.argv:
        edges = top_level(edges)
    if "--graph" in sys.argv:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{a or 'crate'} -> {b}")
    found = cycles(edges)
    if not found:
        print(f"module graph: {len(edges)} modules, no cycle")
        return 0
    print(f"module graph: {len(found)} cycle(s) among {len(edges)} modules:")
    for comp in found:
        inside = set(comp)
        print("  cycle: " + ", ".join(comp))
        for a in comp:
            for b in sorted(edges[a] & inside):
                print(f"    {a} -> {b}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
