"""Package-wide checks: public names, and the direction of imports between parts."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import pagerunner

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(pagerunner.__path__, "pagerunner.")
    if ".migrations" not in m.name and m.name != "pagerunner.__main__"
)


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in getattr(loaded, "__all__", []):
        assert hasattr(loaded, name), f"{module}.__all__ names {name!r}, which does not exist"


def _pagerunner_imports(path: Path) -> set[str]:
    """Absolute names of the pagerunner modules a file imports."""
    package = ".".join(path.relative_to(Path(pagerunner.__file__).parent.parent).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module and node.module.startswith("pagerunner"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pagerunner")}
    return found


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        (
            "executor",
            (
                "pagerunner.queries",
                "pagerunner.sources",
                "pagerunner.simulator",
                "pagerunner.api",
                "pagerunner.functions",
                "pagerunner.app",
                "pagerunner.cli",
            ),
        ),
        (
            "queries",
            (
                "pagerunner.executor",
                "pagerunner.api",
                "pagerunner.functions",
                "pagerunner.simulator",
                "fastapi",
                "inngest",
            ),
        ),
        (
            "functions.py",  # functions -> queries, sources; the executor only through inplace
            (
                "pagerunner.executor",
                "pagerunner.api",
                "pagerunner.cli",
                "pagerunner.simulator",
            ),
        ),
        (
            "sources",
            (
                "pagerunner.queries",
                "pagerunner.api",
                "pagerunner.functions",
                "pagerunner.simulator",
            ),
        ),
    ],
)
def test_parts_import_only_what_the_design_allows(part: str, forbidden: tuple[str, ...]) -> None:
    root = Path(pagerunner.__file__).parent / part
    for path in root.rglob("*.py") if root.is_dir() else [root]:
        imported = _pagerunner_imports(path)
        text = path.read_text()
        for name in forbidden:
            bad = [i for i in imported if i.startswith(name)]
            if name in ("fastapi", "inngest"):
                bad = [name] if f"import {name}" in text or f"from {name}" in text else []
            assert not bad, f"{path} imports {bad}"


def test_the_simulator_imports_nothing_else_of_pagerunner() -> None:
    """A test double of the outside world: sources, queries, the executor … are its clients."""
    root = Path(pagerunner.__file__).parent / "simulator"
    for path in root.rglob("*.py"):
        outside = [i for i in _pagerunner_imports(path) if not i.startswith("pagerunner.simulator")]
        assert not outside, f"{path} imports {outside}"


def test_cli_groups_import_only_the_shared_module() -> None:
    """`cli/__init__` assembles the groups; a group imports `cli.common`, never another group."""
    root = Path(pagerunner.__file__).parent / "cli"
    for path in root.glob("*.py"):
        if path.name == "__init__.py":
            continue
        cli_imports = {i for i in _pagerunner_imports(path) if i.startswith("pagerunner.cli")}
        allowed = set() if path.stem == "common" else {"pagerunner.cli.common"}
        assert cli_imports <= allowed, f"{path} imports {cli_imports - allowed}"
