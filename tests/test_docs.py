"""The documentation names only what exists: every repository path and every ``lethe.x.y`` name it mentions.

A move of a module leaves the README, docs/, the comments of the policies and deployments or a package's
docstring pointing at the old place; this test finds such a reference and names the file and line it is on.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "config").glob("*.yaml"),
        *(ROOT / "deployments").glob("*.yaml"),
        *(ROOT / "lethe").rglob("__init__.py"),
        ROOT / "flows" / "__init__.py",
        ROOT / "tasks" / "__init__.py",
    ]
)
# a path inside one of the repository's folders, optionally followed by ":name" (a deployment's entrypoint)
PATH = re.compile(
    r"(?<![\w./-])((?:lethe|flows|tasks|tests|benchmarks|deployments|docs|config)/[\w./-]*)(?::(\w+))?"
)
# a dotted name under lethe; one followed by "<", "*" or "…" is a pattern (``lethe.policy.<hash>``)
DOTTED = re.compile(r"(?<![\w.])(lethe(?:\.[A-Za-z_]\w*)+)(?!\w|\.?[<*…])")
# files the documents show as the reader's own (``lethe validate config/my-policy.yaml``)
READERS_FILES = frozenset({"config/broken.yaml", "config/my-policy.yaml"})
# dotted names that are not Python: the Prefect event the DPIA flow emits, in the module that emits it
EVENTS = {
    "lethe.dpia.check.failed": ROOT / "tasks" / "dpia.py",
    "lethe.request.overdue": ROOT / "tasks" / "register.py",
    "lethe.request.due": ROOT / "tasks" / "register.py",  # lethe.request.due-soon (the regex stops at "-")
}


def references(pattern: re.Pattern[str]) -> list[tuple[str, re.Match[str]]]:
    """``("file:line", match)`` for every match of ``pattern`` in the documents."""
    found = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{document.relative_to(ROOT)}:{number}"
            found += [(where, match) for match in pattern.finditer(line)]
    return found


def top_level_names(path: Path) -> set[str]:
    """The functions, classes and variables a Python file defines at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def path_problem(path: str, name: str | None) -> str | None:
    """Why a documented path (and the name after its colon) does not exist, or None when it does."""
    path = path.rstrip(".,")
    if path in READERS_FILES or not (path.endswith("/") or Path(path).suffix):
        return None  # an example file of the reader's, or not a path ("lethe/base" is a ratio)
    if not (ROOT / path).exists():
        return f"no such file or folder {path}"
    if name and name not in top_level_names(ROOT / path):
        return f"{path} defines no {name}"
    return None


def resolve(dotted: str) -> object:
    """The module (its spec, when last) or attribute a dotted name designates; AttributeError when none."""
    parts = dotted.split(".")
    target: object = importlib.import_module(parts[0])
    for depth, part in enumerate(parts[1:], 2):
        name = ".".join(parts[:depth])
        spec = (
            importlib.util.find_spec(name)
            if isinstance(target, ModuleType) and hasattr(target, "__path__")
            else None
        )
        if spec and depth == len(parts):
            return spec  # a module named last need not be imported (lethe.dpia.gx loads Great Expectations)
        target = importlib.import_module(name) if spec else getattr(target, part)
    return target


def name_problem(dotted: str) -> str | None:
    """Why a documented dotted name designates nothing, or None when it does."""
    if dotted in EVENTS:
        source = EVENTS[dotted]
        text = source.read_text(encoding="utf-8")
        found = f'"{dotted}"' in text or f'"{dotted}-' in text  # "lethe.request.due-soon"
        return None if found else f"{source.relative_to(ROOT)} no longer emits {dotted}"
    try:
        resolve(dotted)
    except AttributeError:
        return f"nothing is called {dotted}"
    return None


def test_documents_are_found() -> None:
    assert ROOT / "README.md" in DOCUMENTS and ROOT / "docs" / "dpia.md" in DOCUMENTS
    assert references(PATH) and references(DOTTED)


def test_every_documented_path_exists() -> None:
    dangling = [
        f"{where}: {problem}"
        for where, match in references(PATH)
        if (problem := path_problem(match[1], match[2]))
    ]
    assert not dangling, "\n".join(dangling)


def test_every_documented_name_exists() -> None:
    dangling = [
        f"{where}: {problem}" for where, match in references(DOTTED) if (problem := name_problem(match[1]))
    ]
    assert not dangling, "\n".join(dangling)


@pytest.mark.parametrize(
    ("line", "paths"),
    [
        (
            "see `lethe/policy/categories.py` and tests/data/chinook/.",
            ["lethe/policy/categories.py", "tests/data/chinook/."],
        ),
        ("entrypoint: flows/retention.py:retention_flow", ["flows/retention.py:retention_flow"]),
        ("https://example.org/docs/x.md, ../lethe/x.py, var/lethe/y.py", []),
    ],
)
def test_path_pattern(line: str, paths: list[str]) -> None:
    assert [match[0] for match in PATH.finditer(line)] == paths


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("`lethe.requests.restriction.not_restricted`.", ["lethe.requests.restriction.not_restricted"]),
        ("lethe.policy.<hash>, lethe.policy.*, lethe.k_<name>, lethe_requests, x.lethe.y", []),
    ],
)
def test_name_pattern(line: str, names: list[str]) -> None:
    assert [match[1] for match in DOTTED.finditer(line)] == names


def test_checks_catch_what_moved() -> None:
    assert path_problem("lethe/categories.py", None) == "no such file or folder lethe/categories.py"
    assert path_problem("flows/retention.py", "no_such_flow") == "flows/retention.py defines no no_such_flow"
    assert path_problem("lethe/policy/categories.py", None) is None
    assert (
        name_problem("lethe.restriction.not_restricted")
        == "nothing is called lethe.restriction.not_restricted"
    )
    assert name_problem("lethe.requests.restriction.not_restricted") is None
    assert name_problem("lethe.dpia.checks_gx") == "nothing is called lethe.dpia.checks_gx"
    assert name_problem("lethe.dpia.gx") is None
    assert name_problem("lethe.dpia.check.failed") is None
