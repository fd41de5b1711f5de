"""The floor plan of docs/architecture.md holds (issue 17): the pure core imports nothing above it, and only
the pipeline and the commands import the pipeline. A change that breaks either fails here, naming the import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import syncd

PACKAGE = Path(syncd.__file__).parent

# ground floor: values and pure decisions, no config, no I/O (docs/architecture.md, "The floor plan")
CORE = frozenset(
    {"syncd", "syncd.identity", "syncd.errors", "syncd.models", "syncd.rules", "syncd.reconcile"}
    | {"syncd.pricing", "syncd.guards", "syncd.target_read"}
)
# top floor: the run's pipeline and the commands that start it; nothing below may import these
TOP = frozenset(
    {"cycle", "planning", "review", "apply_loop", "reading", "idle_seats", "multi_target", "read_cache"}
    | {"cli", "checks", "multi_cli", "daemon", "demo", "grant", "person_status", "alerts.run", "__main__"}
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "syncd" or name.startswith("syncd.")}


def _on_top(name: str) -> bool:
    inner = name.removeprefix("syncd.")
    return any(inner == top or inner.startswith(top + ".") for top in TOP)


@pytest.mark.parametrize("module", sorted(CORE - {"syncd"}))
def test_importing_a_core_module_loads_only_the_core(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(m for m in sys.modules if m.startswith('syncd'))))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert set(loaded) - CORE == set()


def test_no_module_below_the_top_floor_imports_the_pipeline_or_a_command() -> None:
    wrong = sorted(
        f"{_module(path)} imports {name}"
        for path in PACKAGE.rglob("*.py")
        if not _on_top(_module(path))
        for name in _imports(path)
        if _on_top(name)
    )
    assert wrong == []


def test_the_checks_see_imports() -> None:
    # guard against a check that passes because it reads nothing
    assert "syncd.reading" in _imports(PACKAGE / "cycle.py")
    assert _on_top("syncd.alerts.run") and not _on_top("syncd.alerts.settings")
