"""Deterministic benchmark data, generated inside each database, and fresh copies of it per measurement.

Data is written by one ``INSERT ... SELECT`` over a number sequence (SQLite: a recursive CTE, PostgreSQL:
``generate_series``, MariaDB: the SEQUENCE engine's ``seq_1_to_N``), so seeding 1M rows takes seconds and
no row passes through Python. Row ``x`` is the same on every engine and every run.

A benchmark's :class:`Data` names its tables and the function filling them. A :class:`Dataset` seeds a
*template* once, then hands out a fresh copy for each measurement, so every
measurement starts from identical data and the copying is never timed:

* SQLite: the template file is copied (``shutil.copyfile``).
* PostgreSQL: ``CREATE DATABASE copy TEMPLATE template`` (a block-level copy, hint bits and statistics
  included, since the template is ``VACUUM ANALYZE``-d).
* MariaDB (no template databases): a new database, the same DDL, ``INSERT ... SELECT`` from the template
  database in primary-key order, then ``ANALYZE TABLE``.

Server databases are named ``lethe_b_<8 hex>`` and only such names are ever dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from lethe.stores.engines import create_store_engine

EngineName = Literal["sqlite", "postgresql", "mariadb"]
ENGINE_NAMES: tuple[EngineName, ...] = ("sqlite", "postgresql", "mariadb")
ADMIN_URLS: dict[str, tuple[str, str]] = {
    # engine -> (environment variable, default admin URL)
    "postgresql": ("LETHE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": ("LETHE_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
}
SCRATCH_PREFIX = "lethe_b_"
_SCRATCH_NAME = re.compile(rf"^{SCRATCH_PREFIX}[0-9a-f]{{8}}$")
MARIADB_DDL_OPTIONS = "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"

# The instant every benchmark runs "at"; rows are dated relative to it.
AS_OF = datetime(2026, 11, 25, tzinfo=UTC)
AS_OF_SQL = "2026-11-25 00:00:00"
EXPIRED_DAYS = 1100  # expired rows are 3+ years old; the rules keep 2 years

# Fills the (created, empty) tables through ``engine`` for a size (rows, customers); returns the rows written.
Seeder = Callable[[Engine, EngineName, int], int]


# --------------------------------------------------------------------------------------------- SQL pieces


def sequence_from(dialect: str, n: int) -> tuple[str, str]:
    """``(prefix, from_clause)``: a statement prefix and a FROM clause yielding x = 1..n as ``seq.x``."""
    if dialect == "sqlite":
        return (
            f"WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {int(n)}) ",
            "seq",
        )
    if dialect == "postgresql":
        return "", f"generate_series(1::bigint, {int(n)}) AS seq(x)"
    return "", f"(SELECT seq AS x FROM seq_1_to_{int(n)}) AS seq"


def concat(dialect: str, *parts: str) -> str:
    """String concatenation of SQL expressions."""
    if dialect == "mariadb":
        return f"CONCAT({', '.join(parts)})"
    return "(" + " || ".join(f"({p})" for p in parts) + ")"


def date_plus_days(dialect: str, base: str, days: str) -> str:
    """The date ``base`` (YYYY-MM-DD) plus ``days`` (an integer expression)."""
    if dialect == "sqlite":
        return f"date('{base}', '+' || ({days}) || ' days')"
    if dialect == "postgresql":
        return f"(date '{base}' + ({days})::int)"
    return f"(DATE '{base}' + INTERVAL ({days}) DAY)"


def instant_minus(dialect: str, days: str, seconds: str) -> str:
    """``AS_OF`` minus ``days`` days and ``seconds`` seconds, as a timestamp without zone."""
    if dialect == "sqlite":
        return f"datetime('{AS_OF_SQL}', '-' || ({days}) || ' days', '-' || ({seconds}) || ' seconds')"
    if dialect == "postgresql":
        return f"(timestamp '{AS_OF_SQL}' - make_interval(days => ({days})::int, secs => ({seconds})))"
    return f"(TIMESTAMP '{AS_OF_SQL}' - INTERVAL ({days}) DAY - INTERVAL ({seconds}) SECOND)"


def expired_case(x: str) -> str:
    """1 for the 40% of rows that are expired (x % 5 in {0, 1}: spread evenly over the key range)."""
    return f"CASE WHEN {x} % 5 < 2 THEN 1 ELSE 0 END"


def age_days(x: str) -> str:
    """Age in days of row ``x``: over ``EXPIRED_DAYS`` for expired rows, under a year for the others."""
    return f"({expired_case(x)} * {EXPIRED_DAYS} + {x} % 300)"


def insert_select(
    connection: sa.Connection, table: str, columns: list[str], expressions: list[str], n: int
) -> int:
    """``INSERT INTO table (columns) SELECT expressions FROM 1..n`` in one statement; return n (the rows)."""
    dialect = dialect_of(connection.engine)
    prefix, source = sequence_from(dialect, n)
    select = f"SELECT {', '.join(expressions)} FROM {source}"
    connection.execute(sa.text(f"{prefix}INSERT INTO {table} ({', '.join(columns)}) {select}"))
    return n  # one row per x (the rowcount of SQLite's WITH ... INSERT is -1)


def int_div(dialect: str, a: str, b: int) -> str:
    """Integer division of the SQL expression ``a`` by ``b``."""
    return f"(({a}) DIV {b})" if dialect == "mariadb" else f"(({a}) / {b})"


def dialect_of(engine: Engine) -> EngineName:
    """``sqlite``, ``postgresql`` or ``mariadb`` (SQLAlchemy calls MariaDB over pymysql ``mysql``)."""
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        return "mariadb"
    if name in ("sqlite", "postgresql"):
        return name  # type: ignore[return-value]
    raise ValueError(f"unsupported dialect {name!r}")


# ----------------------------------------------------------------------------------------------- servers


def admin_url(engine: str) -> str:
    """The admin URL of a server engine: environment variable or default."""
    variable, default = ADMIN_URLS[engine]
    return os.environ.get(variable) or default


def _admin_engine(url: str | sa.URL) -> Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def server_reachable(engine: str) -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        admin = _admin_engine(admin_url(engine))
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        finally:
            admin.dispose()
    except Exception as exc:  # any driver or network error: report it, never the URL's password
        return f"{engine} not reachable ({type(exc).__name__})"
    return None


def create_database(engine: str, *, template: str | None = None) -> str:
    """Create ``lethe_b_<hex>`` on the server (PostgreSQL: optionally from ``template``); return its URL."""
    name = SCRATCH_PREFIX + secrets.token_hex(4)
    admin = make_url(admin_url(engine))
    connection_engine = _admin_engine(admin)
    try:
        with connection_engine.connect() as connection:
            if engine == "postgresql":
                suffix = f' TEMPLATE "{template}"' if template else ""
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"{suffix}')
            else:
                connection.exec_driver_sql(f"CREATE DATABASE `{name}` {MARIADB_DDL_OPTIONS}")
    finally:
        connection_engine.dispose()
    url = admin.set(database=name).render_as_string(hide_password=False)
    if engine == "postgresql" and template is None:
        with contextlib.closing(_admin_engine(url).connect()) as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    return url


def drop_database(url: str) -> None:
    """Drop a ``lethe_b_<hex>`` database (ending sessions still on it); refuse any other name."""
    target = make_url(url)
    name = target.database or ""
    if not _SCRATCH_NAME.match(name):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    engine = "postgresql" if target.get_backend_name() == "postgresql" else "mariadb"
    admin = _admin_engine(admin_url(engine))
    try:
        with admin.connect() as connection:
            if engine == "postgresql":
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                ids = connection.execute(
                    sa.text(
                        "SELECT id FROM information_schema.PROCESSLIST WHERE db = :n AND id <> CONNECTION_ID()"
                    ),
                    {"n": name},
                ).scalars()
                for session in ids.all():
                    with contextlib.suppress(sa.exc.DBAPIError):
                        connection.exec_driver_sql(f"KILL CONNECTION {int(session)}")
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.dispose()


# ------------------------------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class Data:
    """What a benchmark measures on: its tables and the function that fills them for a size."""

    metadata: sa.MetaData
    seeder: Seeder


@dataclass
class Dataset:
    """Tables seeded once into a template; ``fresh()`` gives a new identical copy for each measurement.

    Files written beside a SQLite copy and named after it (``copy-3.db-ledger.db``) go with it.
    """

    engine: EngineName
    data: Data
    size: int
    workdir: Path
    template_url: str = ""
    seed_seconds: float = 0.0
    seeded_rows: int = 0  # rows written into the template, all tables
    _copies: list[str] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seed(self) -> None:
        """Create and fill the template (``seed_seconds``: how long it took; ``seeded_rows``: rows written)."""
        started = time.perf_counter()
        if self.engine == "sqlite":
            path = self.workdir / "template.db"
            for leftover in self.workdir.glob("template.db*"):
                leftover.unlink()
            self.template_url = f"sqlite:///{path}"
        else:
            self.template_url = create_database(self.engine)
        engine = create_store_engine(self.template_url)
        try:
            self.data.metadata.create_all(engine)
            self.seeded_rows = self.data.seeder(engine, self.engine, self.size)
            _finish_template(engine, self.engine, self.data.metadata)
        finally:
            engine.dispose()
        self.seed_seconds = time.perf_counter() - started

    def fresh(self) -> str:
        """URL of a new copy of the template (thread-safe: a round's copies are made in parallel)."""
        with self._lock:
            number = next(self._numbers)
        if self.engine == "sqlite":
            path = self.workdir / f"copy-{number}.db"
            shutil.copyfile(make_url(self.template_url).database or "", path)
            url = f"sqlite:///{path}"
        elif self.engine == "postgresql":
            url = create_database("postgresql", template=make_url(self.template_url).database)
        else:
            url = create_database("mariadb")
            _copy_mariadb(self.template_url, url, self.data.metadata)
        with self._lock:
            self._copies.append(url)
        return url

    def discard(self, url: str) -> None:
        """Remove a copy made by ``fresh``."""
        with self._lock:
            if url in self._copies:
                self._copies.remove(url)
        _remove(url)

    def close(self) -> None:
        """Remove every copy and the template."""
        for url in [*self._copies, self.template_url]:
            if url:
                with contextlib.suppress(Exception):
                    _remove(url)
        self._copies.clear()
        self.template_url = ""


def _remove(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for file in path.parent.glob(path.name + "*"):  # the file, -wal, -shm, lock files, a ledger beside
            file.unlink(missing_ok=True)
    else:
        drop_database(url)


def _finish_template(engine: Engine, dialect: str, metadata: sa.MetaData) -> None:
    """Leave the template in a steady state: statistics gathered, SQLite WAL checkpointed."""
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    elif dialect == "mariadb":
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                connection.exec_driver_sql(f"ANALYZE TABLE {table.name}").all()
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _copy_mariadb(source_url: str, target_url: str, metadata: sa.MetaData) -> None:
    source = make_url(source_url).database
    engine = sa.create_engine(target_url, poolclass=sa.pool.NullPool)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            for table in metadata.sorted_tables:  # parents first
                key = ", ".join(c.name for c in table.primary_key.columns)
                connection.exec_driver_sql(
                    f"INSERT INTO {table.name} SELECT * FROM `{source}`.{table.name} ORDER BY {key}"
                )
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                connection.exec_driver_sql(f"ANALYZE TABLE {table.name}").all()
    finally:
        engine.dispose()


@contextlib.contextmanager
def dataset(engine: EngineName, data: Data, size: int, workdir: Path) -> Iterator[Dataset]:
    """A seeded :class:`Dataset` of ``data`` at ``size``, removed with all its copies afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    seeded = Dataset(engine, data, size, workdir)
    try:
        seeded.seed()
        yield seeded
    finally:
        seeded.close()
