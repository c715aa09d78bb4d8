"""No module, and no package, of pagerunner imports another in a circle.

An edge of the graph is an import that runs, at module level or inside a
function; imports under `if TYPE_CHECKING:` never run and are left out.
`from . import x` is an import of the module `x` when there is one. For the
package view, a node is a package (a folder: `pagerunner.executor`,
`pagerunner.simulator.profiles`, ...) or a top-level module (`pagerunner.app`),
and imports between a package and the packages inside it are left out (a parent
installing its child, like the executor's API mounting its dashboard).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pagerunner

ROOT = Path(pagerunner.__file__).parent
FILES = {p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in FILES}


def runtime_imports(path: Path) -> set[str]:
    """The pagerunner modules a file imports when it runs."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()

    def names(node: ast.ImportFrom) -> Iterator[str]:
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        for alias in node.names:
            sub = f"{module}.{alias.name}"
            yield sub if sub in MODULES else module

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit_one(other)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom):
            found.update(names(node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        visit(node)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in MODULES}


def module_graph() -> dict[str, set[str]]:
    return {name: runtime_imports(path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    path = MODULES[module]
    if path.parent == ROOT and path.name != "__init__.py":
        return module
    return ".".join(path.parent.relative_to(ROOT.parent).parts)


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {_package(m): set() for m in modules}
    for module, imported in modules.items():
        here = _package(module)
        graph[here] |= {_package(i) for i in imported if not _related(here, _package(i))}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def walk(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt, [*path, nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start, [start])):
            return found
    return None


def test_no_module_imports_another_in_a_circle() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_package_imports_another_in_a_circle() -> None:
    cycle = find_cycle(package_graph(module_graph()))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_graph_holds_what_runs_and_the_check_finds_circles() -> None:
    modules = module_graph()
    # The simulator's profiles name `Simulator` for types only: that import never runs.
    assert "pagerunner.simulator.answers" in modules["pagerunner.simulator.profiles.base"]
    assert "pagerunner.simulator.simulator" not in modules["pagerunner.simulator.profiles.base"]
    # `from .. import views` is the module views, not the package.
    assert "pagerunner.executor.views" in modules["pagerunner.executor.dashboard.routes"]
    packages = package_graph(modules)
    assert {"pagerunner.api", "pagerunner.functions"} <= packages["pagerunner.app"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
