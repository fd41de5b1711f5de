"""No import circles anywhere in syncd/ (issue 17): the modules form layers, each importing only those below.

The graph is read from the source with ast, so it sees every import: at module level, inside a function (a
lazy import is still a dependency, and a circle through one only waits for the wrong call order to break)
and under `if TYPE_CHECKING:` (a type-only import still says which module stands on which)."""

from __future__ import annotations

import ast
from pathlib import Path

import syncd

PACKAGE = Path(syncd.__file__).parent

# Circles known and accepted while a change is in flight (none now: keep it empty)
PENDING: frozenset[frozenset[str]] = frozenset()


def module_files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that the module `name` imports (for `from a import b`: a.b when it is a
    module, else a)."""
    out: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    out.add(f"{base}.{alias.name}")
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component: list[str] = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    return {name: imported(name, path, set(files)) for name, path in files.items()}


def test_the_circle_finder_finds_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import a\n")
    (package / "c.py").write_text("from . import a\n")
    assert circles(import_graph(package)) == [["pkg.a", "pkg.b"]]


def test_no_import_circles_in_syncd() -> None:
    found = [c for c in circles(import_graph(PACKAGE)) if frozenset(c) not in PENDING]
    assert found == []
