"""Fixtures of the processor tests: fixed settings with a SQLite ledger, and runs disposed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.retention import AS_OF, close_run, make_settings, open_run

from lethe.policy.model import Policy
from lethe.retention.run import RetentionRun
from lethe.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fixed keys and a SQLite ledger in the test's folder."""
    return make_settings(tmp_path)


@pytest.fixture
def contract_run(settings: Settings) -> Iterator[object]:
    """``contract_run(policy)``: a run of the contract_end flow, disposed after the test."""
    opened: list[RetentionRun] = []

    def factory(policy: Policy) -> RetentionRun:
        run = open_run(policy, settings, AS_OF, flow="contract_end")
        opened.append(run)
        return run

    yield factory
    for run in opened:
        close_run(run)
