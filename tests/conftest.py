"""Shared fixtures: real databases on the three engines Lethe supports, no mocks.

``db_url`` / ``db_engine``
    A fresh, empty database per test, once per engine: ``sqlite`` (a file in ``tmp_path``), ``postgresql`` and
    ``mariadb`` (a scratch database ``lethe_t_<8 hex>`` on the server, dropped after the test). The server
    params carry the ``postgres`` / ``mariadb`` marks, so ``-m "not postgres and not mariadb"`` runs SQLite
    only.
``chinook_url``
    The Chinook sample database loaded once per session and engine, as a
    :class:`support.chinook.ChinookDb`, from the copy in ``tests/data/chinook/``. Read-only: it is shared by
    every test of the session.

A server that does not answer skips its tests with the reason (e.g. ``PostgreSQL not reachable at
127.0.0.1:5432 (set LETHE_TEST_POSTGRES_URL); ...``), unless ``LETHE_REQUIRE_SERVERS=1`` or ``CI=true``: then
they fail. See ``tests/support/databases.py`` for the environment variables.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine, make_url
from support.databases import (
    ENGINE_NAMES,
    ENV_VARS,
    ChinookDb,
    create_scratch_database,
    drop_scratch_database,
    load_chinook_mariadb,
    load_chinook_postgresql,
    load_chinook_sqlite,
    make_engine,
    require_server,
    server_admin_url,
    servers_required,
    unreachable_reason,
)

# Helpers that assert (support.exports.check_archive) report their failures as a test's own asserts do.
pytest.register_assert_rewrite("support.exports")

# Prefect reads its settings when first imported: its state (profiles, memo store) goes to a folder of this
# session, never to the user's ~/.prefect. The temporary server of `prefect_server` has its own database.
_PREFECT_HOME = tempfile.mkdtemp(prefix="lethe-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)

_MARKS = {"sqlite": (), "postgresql": (pytest.mark.postgres,), "mariadb": (pytest.mark.mariadb,)}
ENGINE_PARAMS = [pytest.param(name, id=name, marks=_MARKS[name]) for name in ENGINE_NAMES]


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        f"lethe test servers (required: {'yes' if servers_required() else 'no, unreachable ones skip'}):"
    ]
    for name in ENV_VARS:
        admin = server_admin_url(name)
        where = make_url(admin).render_as_string(hide_password=True) if admin else "off"
        lines.append(f"  {name}: {unreachable_reason(name) or 'ok'} [{where}]")
    return lines


@pytest.fixture(params=ENGINE_PARAMS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database for this test, on each engine in turn."""
    engine_name: str = request.param
    if engine_name == "sqlite":
        (tmp_path / "t.db").touch()  # an empty file is an empty database; Lethe never creates users' stores
        yield f"sqlite:///{tmp_path}/t.db"
        return
    require_server(engine_name)
    url = create_scratch_database(engine_name)
    try:
        yield url
    finally:
        drop_scratch_database(url)


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on ``db_url`` (SQLite with foreign keys on), disposed after the test."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=ENGINE_PARAMS)
def chinook_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChinookDb]:
    """The Chinook sample database on each engine, loaded once per session. Tests must not modify it."""
    engine_name: str = request.param
    if engine_name == "sqlite":
        yield load_chinook_sqlite(tmp_path_factory.mktemp("chinook"))
        return
    require_server(engine_name)
    db = load_chinook_postgresql() if engine_name == "postgresql" else load_chinook_mariadb()
    try:
        yield db
    finally:
        drop_scratch_database(db.url)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """One temporary Prefect server for the whole run (it takes seconds to start); yields its database path.

    Started only when a flow test asks for it. Leak tests search its whole database, so every flow run of
    the session is searched, not only their own.
    """
    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        url = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield str(url).split("///", 1)[1]
