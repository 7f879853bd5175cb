"""The package layout keeps data flowing one way (docs/architecture.md): no import circles, and the engine and
kernels know nothing of USD while the stage code knows nothing of Warp."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# kernels/ is installed as swb.kernels; its modules import each other and swb.engine.profiles by those names.
PACKAGES = {"swb": ROOT / "swb", "swb.kernels": ROOT / "kernels"}


def _modules() -> dict[str, Path]:
    mods = {}
    for prefix, folder in PACKAGES.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([prefix, *parts])] = f
    return mods


def _imports(path: Path, name: str) -> set[str]:
    """Every module an import statement names (also inside functions and under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([mod] if mod else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps = {m for m in _imports(path, name) if m in mods and m != name and not name.startswith(m + ".")}
        graph[name] = deps
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (a package re-exporting its own modules excepted)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
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
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            nested = all(a.startswith(b + ".") or b.startswith(a + ".") for a in comp for b in comp if a != b)
            if len(comp) > 1 and not nested:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = _graph()
    assert len(graph) > 50  # the walk found the package
    assert _circles(graph) == []


def test_a_circle_is_found():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_engine_and_kernels_know_no_usd_and_stage_knows_no_warp():
    mods = _modules()
    for name, path in mods.items():
        deps = _imports(path, name)
        if name.startswith(("swb.engine", "swb.kernels")):
            assert not any(d == "pxr" or d.startswith("pxr.") for d in deps), name
            assert not any(d.startswith(("swb.stage", "swb.simulation", "swb.sweep", "swb.viz", "swb.cli"))
                           for d in deps), name
        if name.startswith("swb.stage"):
            assert not any(d == "warp" or d.startswith(("warp.", "swb.kernels")) for d in deps), name
