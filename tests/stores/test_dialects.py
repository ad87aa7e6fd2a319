"""Run locks: one holder per store and name; scoped to the database, released when the holder ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.databases import create_scratch_database, drop_scratch_database, require_server

from lethe.errors import ConcurrentRunError
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import create_store_engine


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two databases on the same engine (the same server for PostgreSQL and MariaDB)."""
    name = request.param
    if name == "sqlite":
        yield f"sqlite:///{tmp_path}/one.db", f"sqlite:///{tmp_path}/two.db"
        return
    require_server(name)
    urls = (create_scratch_database(name), create_scratch_database(name))
    try:
        yield urls
    finally:
        for url in urls:
            drop_scratch_database(url)


def test_a_lock_has_one_holder_and_is_released(two_databases: tuple[str, str]) -> None:
    engine = create_store_engine(two_databases[0])
    try:
        with exclusive_lock(engine, "retention:shop:rule"):
            with (
                pytest.raises(ConcurrentRunError, match="another run"),
                exclusive_lock(engine, "retention:shop:rule"),
            ):
                pass
            with exclusive_lock(engine, "retention:shop:other-rule"):
                pass  # another name is another lock
        with exclusive_lock(engine, "retention:shop:rule"):
            pass  # released at the end of the block
    finally:
        engine.dispose()


def test_the_same_name_in_another_database_is_another_lock(two_databases: tuple[str, str]) -> None:
    one, two = (create_store_engine(url) for url in two_databases)
    try:
        with exclusive_lock(one, "retention:shop:rule"), exclusive_lock(two, "retention:shop:rule"):
            pass
    finally:
        one.dispose()
        two.dispose()
