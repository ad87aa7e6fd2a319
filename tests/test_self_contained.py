"""A clone is self-contained (decision D-3): the data the tests need is in the repository, and no code,
test, Makefile or CI script reads the ``shared`` folder that sits beside the development checkout."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from support.chinook import CHINOOK_FILES, chinook_dir
from support.databases import ENGINE_NAMES

REPO = Path(__file__).resolve().parents[1]
# What the project runs: code, tests, build and CI (documentation may mention the shared folder).
RUN_FILES = ["Makefile", "pyproject.toml", ".ci/run"]
RUN_TREES = ["lethe", "flows", "tasks", "tests", "deployments", "benchmarks", ".ci"]
# a path segment "shared" in any spelling: ../shared, "shared" / "datasets", /work/shared/...
SHARED_PATH = re.compile(r"""\.\./shared\b|['"]shared['"]|/shared/""")


def test_chinook_files_and_license_are_in_the_repository() -> None:
    folder = chinook_dir()
    assert folder.resolve().is_relative_to(REPO)
    for engine_name in ENGINE_NAMES:
        data = gzip.decompress((folder / CHINOOK_FILES[engine_name]).read_bytes())
        assert b"Chinook" in data[:4096] or data.startswith(b"SQLite format 3\x00"), engine_name
    license_text = (folder / "LICENSE.md").read_text(encoding="utf-8")
    assert "Luis Rocha" in license_text and "Permission is hereby granted" in license_text


def test_nothing_that_runs_reads_the_shared_folder() -> None:
    files = [REPO / name for name in RUN_FILES]
    for tree in RUN_TREES:
        files += [
            p for p in (REPO / tree).rglob("*") if p.is_file() and p.suffix in {"", ".py", ".sh", ".yaml"}
        ]
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in files
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SHARED_PATH.search(line)
    ]
    assert offenders == []
