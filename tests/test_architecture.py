"""The core package ``lethe`` never imports the orchestrator (prefect) nor the pipelines (flows, tasks).

``make imports`` checks the same rule with import-linter (contract in pyproject.toml); this test is a
second, dependency-free check that also runs under plain ``pytest`` and catches
``importlib.import_module("prefect")``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = frozenset({"prefect", "flows", "tasks"})
_DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__"})


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """``"line: module"`` for every import of a forbidden top-level package in ``source``."""
    found: list[str] = []

    def check(module: str | None, lineno: int) -> None:
        if module and module.split(".")[0] in FORBIDDEN:
            found.append(f"{lineno}: {module}")

    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:  # relative imports stay inside lethe
                check(node.module, node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _DYNAMIC_IMPORTERS and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    check(arg.value, node.lineno)
    return found


def _core_files() -> list[Path]:
    return sorted((ROOT / "lethe").rglob("*.py"))


def test_core_package_exists() -> None:
    assert (ROOT / "lethe" / "__init__.py").is_file()
    assert _core_files()


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_orchestrator(path: Path) -> None:
    found = forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    assert not found, (
        f"{path.relative_to(ROOT)} imports {', '.join(found)}: lethe/ must not import {sorted(FORBIDDEN)}"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import prefect", ["1: prefect"]),
        ("from prefect.logging import get_logger", ["1: prefect.logging"]),
        ("import os\nimport flows.retention as r", ["2: flows.retention"]),
        ("def f():\n    from tasks import erase", ["2: tasks"]),
        ("import importlib\nimportlib.import_module('prefect')", ["2: prefect"]),
        ("from . import tasks\nfrom .flows import x\nimport prefecture\nimport lethe.tasks", []),
    ],
)
def test_checker_itself(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected
