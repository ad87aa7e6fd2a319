"""Real database servers for the tests: where they are, whether they answer, and scratch databases on them.

Test-only helpers, imported by ``tests/conftest.py`` and by tests as ``from support.databases import ...``
(pytest puts ``tests/`` on ``sys.path``). Nothing here is mocked: every engine is a real SQLite file,
PostgreSQL server or MariaDB server. The Chinook sample's files and scripts are in :mod:`support.chinook`;
the ``load_chinook_*`` functions at the end load them into scratch databases.

Where the servers are
    ``LETHE_TEST_POSTGRES_URL`` and ``LETHE_TEST_MARIADB_URL`` name an *admin* URL: a database the tests
    connect to in order to create and drop scratch databases beside it (never to store anything). Defaults:
    ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` and ``mysql+pymysql://root@127.0.0.1:3306/``.
    Set a variable to the empty string to switch that engine off (its tests then skip, or fail when servers
    are required).

Skip or fail
    A test that needs a server skips with the reason when the server does not answer, unless
    ``LETHE_REQUIRE_SERVERS=1`` or ``CI=true``, in which case it fails: CI must never go green by skipping.

Scratch databases
    Named ``lethe_t_<8 hex>``. PostgreSQL ones get the ``pgcrypto`` extension (tests compute HMACs with it).
    MariaDB ones are ``utf8mb4`` with the collation ``utf8mb4_nopad_bin``, chosen so that string comparisons
    behave as they do on the other two engines:

    * SQLite's default ``BINARY`` collation and PostgreSQL with a ``C``/``C.UTF-8`` collation compare strings
      code point by code point: case- and accent-sensitive, and trailing spaces count (``'a' <> 'a '``).
    * ``utf8mb4_bin`` is case- and accent-sensitive too, but it is a PAD SPACE collation: MariaDB compares
      ``'a' = 'a '`` as *true* (checked on MariaDB 10.11), so a test that erases ``'x'`` could also hit
      ``'x '``.
    * ``utf8mb4_nopad_bin`` (MariaDB 10.2+) is the same binary order without padding: ``'a' = 'a '`` is false,
      exactly like the others. The default ``utf8mb4_general_ci`` would make ``'Alice' = 'alice'`` true.

    (On MySQL 8 the equivalent would be ``utf8mb4_0900_bin``; the project targets MariaDB.) Production
    databases keep whatever collation they have; this only makes the test fixtures behave alike.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from support.chinook import ChinookDb, mariadb_script, postgresql_script, read_chinook

EngineName = Literal["sqlite", "postgresql", "mariadb"]

ENGINE_NAMES: tuple[EngineName, ...] = ("sqlite", "postgresql", "mariadb")
SERVER_ENGINE_NAMES: tuple[EngineName, ...] = ("postgresql", "mariadb")

ENV_VARS: dict[str, str] = {
    "postgresql": "LETHE_TEST_POSTGRES_URL",
    "mariadb": "LETHE_TEST_MARIADB_URL",
}
DEFAULT_ADMIN_URLS: dict[str, str] = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}
LABELS: dict[str, str] = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}

CONNECT_TIMEOUT_S = 3
SCRATCH_PREFIX = "lethe_t_"
MARIADB_CHARSET = "utf8mb4"
MARIADB_COLLATION = "utf8mb4_nopad_bin"

_SCRATCH_NAME = re.compile(rf"^{SCRATCH_PREFIX}[0-9a-f]{{8}}$")

# scratch database URL -> admin URL it was created from, so it is dropped through the same server/credentials
_created: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------------- where


def server_admin_url(engine_name: str) -> str | None:
    """The admin URL for a server engine, from the environment or the default; None for SQLite or when off."""
    if engine_name not in ENV_VARS:
        return None
    value = os.environ.get(ENV_VARS[engine_name])
    if value is None:
        return DEFAULT_ADMIN_URLS[engine_name]
    return value.strip() or None


def servers_required() -> bool:
    """True when an unreachable server must fail the tests instead of skipping them (CI)."""
    return os.environ.get("LETHE_REQUIRE_SERVERS") == "1" or os.environ.get("CI", "").lower() == "true"


def engine_name_of(url: str | URL) -> EngineName:
    """Which of the three engines a URL points at (``mysql+pymysql`` URLs are MariaDB here)."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    if backend in ("mysql", "mariadb"):
        return "mariadb"
    raise ValueError(f"not a test engine: {backend!r}")


def _where(url: URL) -> str:
    default_port = 5432 if url.get_backend_name() == "postgresql" else 3306
    return f"{url.host or 'localhost'}:{url.port or default_port}"


# -------------------------------------------------------------------------------------------------- engines


def enable_sqlite_foreign_keys(engine: Engine) -> None:
    """Turn on ``PRAGMA foreign_keys`` on every new connection of a SQLite engine (off by default in SQLite).

    Test-only: the product's stores set this in ``lethe/stores.py`` themselves; this one exists so that the
    fixtures' SQLite behaves like the servers (foreign keys enforced) without importing product code.
    """
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _fk_on(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine`` plus foreign keys on for SQLite."""
    engine = sa.create_engine(url, **kwargs)
    enable_sqlite_foreign_keys(engine)
    return engine


def _admin_engine(admin_url: str | URL, **kwargs: Any) -> Engine:
    return sa.create_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        **kwargs,
    )


# ------------------------------------------------------------------------------------------------ reachable


def unreachable_reason(engine_name: str) -> str | None:
    """None when the engine's server answers a ``SELECT 1``; otherwise why not, ready for ``pytest.skip``.

    Probes once per process and admin URL (a 3 s connect timeout), so a dead server costs 3 s per run, not per
    test.
    """
    if engine_name == "sqlite":
        return None
    if engine_name not in ENV_VARS:
        raise ValueError(f"unknown engine {engine_name!r}")
    return _probe(engine_name, server_admin_url(engine_name))


def require_server(engine_name: str) -> None:
    """In a test or fixture: skip if the engine's server does not answer, or fail if servers are required."""
    reason = unreachable_reason(engine_name)
    if reason is None:
        return
    if servers_required():
        pytest.fail(
            f"{reason} [LETHE_REQUIRE_SERVERS=1 or CI=true: failing instead of skipping]", pytrace=False
        )
    pytest.skip(reason)


@functools.cache
def _probe(engine_name: str, admin_url: str | None) -> str | None:
    label, env = LABELS[engine_name], ENV_VARS[engine_name]
    if admin_url is None:
        return f"{label} tests switched off ({env} is empty)"
    try:
        url = make_url(admin_url)
    except Exception as exc:
        return f"{label} URL in {env} is malformed: {type(exc).__name__}"
    where = f"{label} not reachable at {_where(url)} (set {env})"
    try:
        engine = _admin_engine(url)
    except Exception as exc:  # e.g. driver not installed
        return f"{where}; {type(exc).__name__}: {_first_line(exc)}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return f"{where}; {type(exc).__name__}: {_first_line(exc)}"
    finally:
        engine.dispose()
    return None


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy wraps driver errors: show the driver's own first line, never the statement or parameters
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0][:300] if text else type(inner).__name__


# -------------------------------------------------------------------------------------------------- scratch


def create_scratch_database(engine_name: str, *, mariadb_collation: str = MARIADB_COLLATION) -> str:
    """Create a new, empty, uniquely named database ``lethe_t_<8 hex>`` on the server and return its URL.

    The URL keeps the admin URL's driver, credentials, host and query; only the database changes.
    Drop it with :func:`drop_scratch_database`. ``mariadb_collation`` is the MariaDB database's default
    collation (a test of code that must not depend on it can ask for MariaDB's own ``utf8mb4_general_ci``).
    """
    admin_url = server_admin_url(engine_name)
    if admin_url is None:
        raise ValueError(f"no server for engine {engine_name!r}")
    name = SCRATCH_PREFIX + secrets.token_hex(4)
    admin = make_url(admin_url)
    url = admin.set(database=name)
    engine = _admin_engine(admin)
    try:
        with engine.connect() as conn:
            if engine_name == "postgresql":
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                conn.exec_driver_sql(
                    f"CREATE DATABASE `{name}` CHARACTER SET {MARIADB_CHARSET} COLLATE {mariadb_collation}"
                )
    finally:
        engine.dispose()
    url_text = url.render_as_string(hide_password=False)
    _created[url_text] = admin_url
    if engine_name == "postgresql":
        try:
            engine = _admin_engine(url)
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgcrypto")
            finally:
                engine.dispose()
        except Exception:
            drop_scratch_database(url_text)
            raise
    return url_text


def drop_scratch_database(url: str) -> None:
    """Drop a scratch database made by :func:`create_scratch_database`, ending connections still open on it.

    Refuses any database whose name is not ``lethe_t_<8 hex>``, so a wrong URL cannot drop real data.
    Dropping a database that no longer exists is fine.
    """
    target = make_url(url)
    name = target.database or ""
    if not _SCRATCH_NAME.match(name):
        raise ValueError(f"refusing to drop {name!r}: not a scratch database ({SCRATCH_PREFIX}<8 hex>)")
    engine_name = engine_name_of(target)
    admin_url = _created.pop(url, None) or server_admin_url(engine_name)
    if admin_url is None:
        raise ValueError(f"no admin URL known for {engine_name}")
    admin = make_url(admin_url)
    if admin.database == name:  # never connect to the database being dropped
        admin = admin.set(database="postgres" if engine_name == "postgresql" else None)
    engine = _admin_engine(admin)
    try:
        with engine.connect() as conn:
            if engine_name == "postgresql":
                if conn.dialect.server_version_info >= (13,):
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                else:
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            else:
                # DROP DATABASE waits for the metadata lock of any open transaction on its tables (for
                # lock_wait_timeout, a day by default): end the other sessions using it, and bound the wait.
                ids = conn.execute(
                    sa.text(
                        "SELECT id FROM information_schema.PROCESSLIST"
                        " WHERE db = :name AND id <> CONNECTION_ID()"
                    ),
                    {"name": name},
                ).scalars()
                for session_id in ids.all():
                    with contextlib.suppress(sa.exc.DBAPIError):  # already gone
                        conn.exec_driver_sql(f"KILL CONNECTION {int(session_id)}")
                conn.exec_driver_sql("SET SESSION lock_wait_timeout = 60")
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_database(engine_name: str, *, mariadb_collation: str = MARIADB_COLLATION) -> Iterator[str]:
    """URL of a new scratch database on the server, dropped after the block; skips or fails if it is down."""
    require_server(engine_name)
    url = create_scratch_database(engine_name, mariadb_collation=mariadb_collation)
    try:
        yield url
    finally:
        drop_scratch_database(url)


# -------------------------------------------------------------------------------------------------- Chinook


def load_chinook_sqlite(target_dir: Path) -> ChinookDb:
    """Write a private, writable copy of the Chinook SQLite database into ``target_dir`` and return it."""
    target = Path(target_dir) / "chinook.sqlite"
    target.write_bytes(read_chinook("sqlite"))
    return ChinookDb(url=f"sqlite:///{target}", engine_name="sqlite", naming="pascal")


def _run_script(url: str, run: Callable[[Any], None], **engine_options: Any) -> None:
    """``run(cursor)`` on a raw connection to the scratch database ``url``, committed; dropped on failure."""
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options)
        try:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                run(cursor)
                cursor.close()
                raw.commit()
            finally:
                raw.close()
        finally:
            engine.dispose()
    except BaseException:
        drop_scratch_database(url)
        raise


def load_chinook_postgresql() -> ChinookDb:
    """A scratch PostgreSQL database loaded from the Chinook script (one simple-protocol batch, under 1 s)."""
    script = postgresql_script()
    url = create_scratch_database("postgresql")

    def run(cursor: Any) -> None:
        cursor.execute(script)  # no parameters: psycopg sends it as one multi-statement query

    _run_script(url, run)
    return ChinookDb(url=url, engine_name="postgresql", naming="snake")


def load_chinook_mariadb() -> ChinookDb:
    """A scratch MariaDB database loaded from the Chinook MySQL script.

    The script has semicolons inside quoted strings (22 of them), so it is not split on ``;``: it is sent
    whole with ``CLIENT.MULTI_STATEMENTS`` and every result set is consumed, which surfaces an error in any
    statement.
    """
    from pymysql.constants import CLIENT

    script = mariadb_script()
    url = create_scratch_database("mariadb")

    def run(cursor: Any) -> None:
        cursor.execute(script)
        while cursor.nextset():  # consume every result set: an error in any statement surfaces
            pass

    _run_script(url, run, connect_args={"client_flag": CLIENT.MULTI_STATEMENTS})
    return ChinookDb(url=url, engine_name="mariadb", naming="pascal")
