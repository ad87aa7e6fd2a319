"""Fixtures of the retention tests: fixed settings with a SQLite ledger, and runs disposed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.retention import AS_OF, NewRun, close_run, make_settings, open_run

from lethe.policy.model import Policy
from lethe.retention.run import RetentionRun
from lethe.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fixed keys and a SQLite ledger in the test's folder."""
    return make_settings(tmp_path)


@pytest.fixture
def new_run(settings: Settings) -> Iterator[NewRun]:
    """Open runs (``new_run(policy, as_of=AS_OF)``) whose engines are disposed after the test."""
    opened: list[RetentionRun] = []

    def factory(policy: Policy, as_of: datetime = AS_OF, **kwargs: Any) -> RetentionRun:
        run = open_run(policy, settings, as_of, **kwargs)
        opened.append(run)
        return run

    yield factory
    for run in opened:
        close_run(run)
