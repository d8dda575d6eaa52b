"""The package's structure: layers (import-linter contracts in setup.cfg) and no import cycles."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


class _WithPackageImports:
    """grimp's graph plus an arrow to the package for every ``from <package> import name``:
    that statement runs the package's ``__init__`` (and whatever it imports, lazily or not)."""

    def __init__(self, graph):
        self.graph = graph
        self.modules = graph.modules
        self.extra: dict[str, set[str]] = {}
        packages = {m for m in graph.modules if graph.find_children(m)}
        for module in graph.modules:
            path = ROOT.joinpath(*module.split("."))
            path = path / "__init__.py" if module in packages else path.with_suffix(".py")
            tree = ast.parse(path.read_text(encoding="utf-8"))
            self.extra[module] = {node.module for node in ast.walk(tree)
                                  if isinstance(node, ast.ImportFrom) and node.level == 0
                                  and node.module in packages and node.module != module}

    def find_modules_directly_imported_by(self, module):
        return set(self.graph.find_modules_directly_imported_by(module)) | self.extra[module]


def test_no_import_cycles():
    graph = _WithPackageImports(grimp.build_graph("lensfind"))
    cycles = _cycles(graph)
    assert not cycles, "import cycles (each list imports itself through the others):\n" + \
        "\n".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c"}
        edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges[m]

    assert _cycles(Graph()) == [["a", "b"]]


def test_layers_contract_is_kept():
    """``lint-imports`` with the contracts in setup.cfg (lower layers never import higher)."""
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"),
                           str(ROOT / "setup.cfg")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
