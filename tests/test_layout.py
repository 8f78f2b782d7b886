"""The layout's rules, checked on the source (README "Layout"): arrows only go down, no import cycles (imports inside
functions counted), argparse only in the CLI, no module over 600 lines, no bare ``Any``/``object`` parameters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.layout import imports, modules

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600

# Layers, lowest first. A module may import its own package (e.g. photostyle.regions.*) or anything of a lower
# layer; never a higher layer, nor another package of its own layer.
LAYERS: dict[str, int] = {
    "photostyle.errors": 0,
    "photostyle.settings": 1,
    "photostyle.runtime": 1,
    "photostyle.imageio": 2,
    "photostyle.imaging": 2,
    "photostyle.vgg": 2,
    "photostyle.regions": 3,
    "photostyle.engine": 4,
    "photostyle.pipeline": 5,
    "photostyle": 5,  # the package's public face (photostyle/__init__.py)
    "photostyle.service": 6,
    "pipelines": 6,
    "photostyle.demo": 6,
    "photostyle.cli": 7,
    "photostyle.__main__": 8,
}


MODULES = modules(ROOT)


def _unit(module: str) -> str:
    """The layering unit of MODULE: the longest key of LAYERS that is MODULE or a package above it."""
    best = ""
    for key in LAYERS:
        if (module == key or module.startswith(key + ".")) and len(key) > len(best):
            best = key
    assert best, f"{module} has no layer: add it to LAYERS in tests/test_layout.py and to the README's Layout"
    return best


GRAPH = {m: imports(m, p, MODULES) for m, p in MODULES.items()}


def test_arrows_only_go_down() -> None:
    bad = []
    for m, targets in GRAPH.items():
        um = _unit(m)
        for t in targets:
            ut = _unit(t)
            if ut == um or t.startswith(um + ".") or (um == "photostyle" and m != "photostyle"):
                continue
            if LAYERS[ut] >= LAYERS[um]:
                bad.append(f"{m} -> {t}")
    assert not bad, "imports that point up or sideways:\n" + "\n".join(sorted(bad))


def _package_of(m: str) -> str:
    return m if m in ("photostyle",) else ".".join(m.split(".")[:2])


def test_no_import_cycles() -> None:
    """No cycle between modules, except a package's __init__ re-exporting its own submodules."""
    graph = {m: {t for t in ts if not (t in MODULES and MODULES[t].name == "__init__.py" and m.startswith(t + "."))}
             for m, ts in GRAPH.items()}  # fmt: skip
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_argparse_only_in_the_cli() -> None:
    users = [m for m, p in MODULES.items() if not m.startswith("photostyle.cli") and "argparse" in _stdlib(p)]
    assert not users, f"argparse outside photostyle/cli: {users}"


def _stdlib(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[module]} has {n} lines (at most {MAX_LINES}): split it by concern"


# parameters that really take any value (they validate it), with the reason
ANY_ALLOWED = {"photostyle.settings._pairs(value)": "validates what a JSON settings file or the wire holds"}


def test_no_bare_any_or_object_parameters() -> None:
    """Project types are named: a parameter annotated plain ``Any`` or ``object`` hides one."""
    bad = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
                for a in args:
                    ann = a.annotation
                    name = ann.id if isinstance(ann, ast.Name) else ann.value if isinstance(ann, ast.Constant) else ""
                    if name in ("Any", "object") and f"{m}.{node.name}({a.arg})" not in ANY_ALLOWED:
                        bad.append(f"{m}.{node.name}({a.arg}: {name})")
    assert not bad, "bare Any/object parameters:\n" + "\n".join(bad)


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The import reader finds imports inside functions and resolves relative ones (so the rules above can fail)."""
    f = tmp_path / "mod.py"
    f.write_text("def f():\n    from ..pipeline import transfer\n    import photostyle.cli\n")
    found = imports("photostyle.engine.mod", f, MODULES)
    assert found == {"photostyle.pipeline", "photostyle.cli"}
