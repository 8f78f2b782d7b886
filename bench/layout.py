"""The layout in numbers: lines per module and the import graph between packages (imports inside functions counted).

    python -m bench.layout [ROOT]     # markdown on stdout; ROOT defaults to this checkout

Packages are the units of README's "Layout" (photostyle.imageio, photostyle.engine, ...; top-level modules count
as their own unit). An arrow A -> B means some module of A imports some module of B.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

from .common import ROOT as HERE


def modules(root: Path) -> dict[str, Path]:
    """{dotted name: file} of every module of photostyle/ and pipelines/ (a package is its __init__.py)."""
    out = {}
    for pkg in ("photostyle", "pipelines"):
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def unit(module: str, mods: dict[str, Path]) -> str:
    parts = module.split(".")
    if parts[0] == "pipelines":
        return ".".join(parts[:2]) if len(parts) > 1 and ".".join(parts[:2]) in mods else "pipelines"
    if len(parts) >= 2 and mods.get(".".join(parts[:2]), Path()).name == "__init__.py":
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def imports(module: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The modules of MODS that MODULE (at PATH) imports anywhere, inside functions too, relative ones resolved."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_pkg else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in mods:
                    if cand != module:
                        found.add(cand)
                    break
    return found


def report(root: Path) -> str:
    mods = modules(root)
    sizes = {m: len(p.read_text().splitlines()) for m, p in mods.items()}
    total = sum(sizes.values())
    lines = [f"## Modules ({len(mods)}, {total} lines)", "", "| module | lines |", "|---|---|"]
    for m, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {m} | {n} |")
    top3 = sum(sorted(sizes.values())[-3:])
    lines += ["", f"The three largest hold {top3} lines ({100 * top3 / total:.0f} %).", ""]
    edges: dict[str, set[str]] = defaultdict(set)
    for m, p in mods.items():
        for t in imports(m, p, mods):
            a, b = unit(m, mods), unit(t, mods)
            if a != b:
                edges[a].add(b)
    lines += ["## Import graph (package -> packages it imports)", ""]
    for a in sorted(edges):
        lines.append(f"- {a} -> {', '.join(sorted(edges[a]))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
