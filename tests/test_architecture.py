"""The import graph follows the layer order written in ``docs/architecture.md``.

Every module under ``src/voxforge`` is parsed with :mod:`ast`; every import counts, at any depth
(lazy imports inside functions and ``TYPE_CHECKING`` blocks included), with relative imports
resolved. A module belongs to a unit: the first name under ``voxforge`` (``scan`` for
``voxforge.scan.clean``, ``cli`` for ``voxforge/cli.py`` or ``voxforge/cli/``, ``__init__`` for the
package's own ``__init__.py``). The fenced ``layers`` block in ``docs/architecture.md`` lists the
units, lowest layer first, one layer per line. Two rules:

- no unit imports a unit of a higher layer;
- no two units import each other, directly or around a loop (units of one layer may use each
  other one way).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = "voxforge"

Edge = tuple[str, str]  # (importing unit, imported unit)


def read_layers(text: str) -> list[list[str]]:
    """The units of each layer, lowest first, from the document's fenced ``layers`` block."""
    match = re.search(r"^```layers\n(.*?)^```", text, re.M | re.S)
    if match is None:
        raise AssertionError("docs/architecture.md has no ```layers block")
    layers = []
    for line in match.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            layers.append([u.strip() for u in line.split(",") if u.strip()])
    return layers


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def unit_of(module: str) -> str:
    """``voxforge.scan.clean`` -> ``scan``; the package itself -> ``__init__``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imported_modules(path: Path, src: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in ``path``, at any depth.

    ``from voxforge import cli`` gives ``voxforge.cli``: a name imported from the package itself
    stands for the sub-module of that name where there is one (``import_graph`` decides).
    """
    module = module_name(path, src)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == PACKAGE:
                out += [(f"{PACKAGE}.{alias.name}", node.lineno) for alias in node.names]
            else:
                out.append((name, node.lineno))
    return out


def import_graph(src: Path) -> dict[Edge, list[str]]:
    """Unit -> unit edges, each with the ``file:line`` (from ``src``'s parent) of its imports."""
    known = units(src)
    edges: dict[Edge, list[str]] = defaultdict(list)
    for path in sorted((src / PACKAGE).rglob("*.py")):
        here = unit_of(module_name(path, src))
        for name, line in imported_modules(path, src):
            if name != PACKAGE and not name.startswith(PACKAGE + "."):
                continue
            there = unit_of(name)
            if there not in known:  # a name defined in voxforge/__init__.py (``__version__``)
                there = "__init__"
            if there != here:
                edges[(here, there)].append(f"{path.relative_to(src.parent)}:{line}")
    return dict(edges)


def units(src: Path) -> set[str]:
    """Every unit that has a module."""
    return {unit_of(module_name(p, src)) for p in (src / PACKAGE).rglob("*.py")}


def upward_imports(edges: dict[Edge, list[str]], layers: list[list[str]]) -> list[str]:
    """One line per import from a lower layer to a higher one."""
    rank = {u: i for i, layer in enumerate(layers) for u in layer}
    bad = []
    for (a, b), where in sorted(edges.items()):
        if a in rank and b in rank and rank[a] < rank[b]:
            bad += [f"{w}: `{a}` (layer {rank[a]}) imports `{b}` (layer {rank[b]})" for w in where]
    return bad


def cycles(edges: dict[Edge, list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan), each sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def shortest_loops(group: list[str], edges: dict[Edge, list[str]]) -> list[list[str]]:
    """For each unit of a strongly connected group, the shortest loop through it (deduplicated)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        if a in group and b in group:
            graph[a].append(b)
    loops: list[list[str]] = []
    for start in group:
        parent: dict[str, str] = {}
        queue, end = [start], None
        while queue and end is None:
            nxt = []
            for v in queue:
                for w in graph[v]:
                    if w == start:
                        end = v
                        break
                    if w not in parent:
                        parent[w] = v
                        nxt.append(w)
                if end is not None:
                    break
            queue = nxt
        path = [end]
        while path[-1] != start:
            path.append(parent[path[-1]])
        loop = path[::-1]
        i = loop.index(min(loop))
        loop = loop[i:] + loop[:i]
        if loop not in loops:
            loops.append(loop)
    return loops


def cycle_report(group: list[str], edges: dict[Edge, list[str]]) -> str:
    """The group's units and its shortest loops, each step with the first import that makes it."""
    lines = [f"import cycle between {', '.join(group)}:"]
    for loop in shortest_loops(group, edges):
        lines.append("  " + " -> ".join([*loop, loop[0]]))
        for a, b in zip(loop, [*loop[1:], loop[0]], strict=True):
            lines.append(f"    {edges[(a, b)][0]}: `{a}` imports `{b}` ({len(edges[(a, b)])} in all)")
    return "\n".join(lines)


# --- the project --------------------------------------------------------------------------


def test_every_unit_has_a_layer():
    listed = {u for layer in read_layers(DOC.read_text()) for u in layer}
    missing = sorted(units(SRC) - listed)
    assert not missing, f"docs/architecture.md's layers block does not place: {', '.join(missing)}"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    bad = upward_imports(import_graph(SRC), read_layers(DOC.read_text()))
    assert not bad, "imports against the layer order of docs/architecture.md:\n" + "\n".join(bad)


def test_no_import_cycle_between_packages():
    edges = import_graph(SRC)
    found = cycles(edges)
    assert not found, "\n".join(cycle_report(g, edges) for g in found)


# --- the checker itself, on small made-up trees -----------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "src" / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "src"


LAYERS = "```layers\ncore\nscan, voxel  # stages\ncli\n```\n"


def test_read_layers_takes_the_fenced_block():
    assert read_layers("text\n" + LAYERS + "more") == [["core"], ["scan", "voxel"], ["cli"]]
    with pytest.raises(AssertionError, match="no ```layers block"):
        read_layers("no block here")


def test_a_lazy_upward_import_is_found_with_its_file_and_line(tmp_path):
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "",
            "scan/__init__.py": "from voxforge.core import x\n",
            "scan/cmd.py": "import os\n\n\ndef run():\n    from voxforge.cli import app\n",
            "cli.py": "from .scan import cmd\n",
        },
    )
    bad = upward_imports(import_graph(src), read_layers(LAYERS))
    assert bad == ["src/voxforge/scan/cmd.py:5: `scan` (layer 1) imports `cli` (layer 2)"]


def test_relative_imports_and_from_package_imports_resolve(tmp_path):
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "from .. import scan\n",
            "core/a.py": "from ..voxel.grid import g\n",
            "scan/__init__.py": "",
            "voxel/grid.py": "",
        },
    )
    edges = import_graph(src)
    assert set(edges) == {("core", "scan"), ("core", "voxel")}
    assert edges[("core", "voxel")] == ["src/voxforge/core/a.py:1"]


def test_a_cycle_within_one_layer_is_found(tmp_path):
    src = _tree(
        tmp_path,
        {
            "scan/__init__.py": "from voxforge.voxel import v\n",
            "voxel/__init__.py": "def f():\n    import voxforge.scan.fuse\n",
        },
    )
    edges = import_graph(src)
    assert upward_imports(edges, read_layers(LAYERS)) == []
    assert cycles(edges) == [["scan", "voxel"]]
    assert "src/voxforge/voxel/__init__.py:2: `voxel` imports `scan`" in cycle_report(
        ["scan", "voxel"], edges
    )
