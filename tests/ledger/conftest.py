"""Fixtures of the ledger tests: a SQLite ledger file in the test's folder, empty or holding five entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.ledger import KEY, make_entry

from lethe.ledger.chain import Ledger


@pytest.fixture
def url(tmp_path: Path) -> str:
    """URL of a SQLite ledger file in the test's folder."""
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    """A ledger holding five entries."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.append(make_entry(1))
    led.append_many([make_entry(i) for i in range(2, 6)])
    yield led
    engine.dispose()
