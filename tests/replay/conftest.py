"""Fixtures of the replay tests: the demo shop on each engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.shop import Shop, open_shop


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    """The 60-customer demo shop with config/demo.yaml, on each engine in turn."""
    with open_shop(db_url, tmp_path) as opened:
        yield opened
