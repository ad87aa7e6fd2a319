"""Fixtures of the operator tests: one scratch database per engine and test module (``engine``).

Creating a PostgreSQL database costs ~0.3 s, so the operator tests share one per module and rebuild their
tables in each test; tests that change the database itself use the per-test ``db_engine`` of the top
``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from support.databases import (
    ENGINE_NAMES,
    create_scratch_database,
    drop_scratch_database,
    make_engine,
    require_server,
)

_MARKS = {"sqlite": (), "postgresql": (pytest.mark.postgres,), "mariadb": (pytest.mark.mariadb,)}
ENGINES = [pytest.param(name, id=name, marks=_MARKS[name]) for name in ENGINE_NAMES]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One scratch database per engine for this module (tests recreate their tables)."""
    name: str = request.param
    if name == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('operators') / 'ops.db'}"
    else:
        require_server(name)
        url = create_scratch_database(name)
    db = make_engine(url)
    try:
        yield db
    finally:
        db.dispose()
        if name != "sqlite":
            drop_scratch_database(url)
