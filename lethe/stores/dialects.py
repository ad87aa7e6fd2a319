"""What differs between SQLite, PostgreSQL and MariaDB, in one place.

- How a cut-off instant is compared with a timestamp column: PostgreSQL ``timestamptz`` takes an aware
  instant; columns without a zone (MariaDB ``DATETIME``, PostgreSQL ``timestamp``, SQLite text) hold
  wall-clock times in the store's zone, so the instant is converted to that zone and made naive. SQLite
  compares text, so the cut-off is written in the format SQLAlchemy and SQLite's ``datetime()`` write.
- How a run takes an exclusive lock on a piece of work that dies with the process: PostgreSQL advisory
  locks and MariaDB ``GET_LOCK`` belong to a session, SQLite gets an ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.errors import ConcurrentRunError

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S"
_RETRY_SECONDS = 0.02  # between attempts at a lock another session holds, when waiting for it


def cutoff_param(
    column: sa.Column[Any], cutoff: datetime, dialect: str, store_tz: str
) -> sa.ColumnElement[Any]:
    """The cut-off as a bound value comparable with ``column`` on ``dialect``."""
    if cutoff.tzinfo is None:
        raise ValueError("cut-off must be timezone-aware")
    column_type = column.type
    local = cutoff.astimezone(ZoneInfo(store_tz))
    if isinstance(column_type, sa.DateTime) or not isinstance(column_type, sa.Date):
        aware = dialect == "postgresql" and bool(getattr(column_type, "timezone", False))
        value: datetime | date | str = cutoff if aware else local.replace(tzinfo=None)
        if dialect == "sqlite":
            # Text comparison: "2020-01-01 00:00:00" sorts before "2020-01-01 00:00:00.000001" and after
            # every earlier instant, with or without a fraction, so write the fraction only when there is one.
            naive = local.replace(tzinfo=None)
            value = naive.strftime(SQLITE_DATETIME) + (
                f".{naive.microsecond:06d}" if naive.microsecond else ""
            )
            return sa.literal(value, sa.String())
        return sa.literal(value, column_type)
    # A DATE holds a whole day: it is expired when the day is before the cut-off's day.
    day = local.date()
    if dialect == "sqlite":
        return sa.literal(day.isoformat(), sa.String())
    return sa.literal(day, column_type)


def _lock_key(name: str) -> int:
    # PostgreSQL advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive_lock(engine: Engine, name: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold a lock called ``name`` on this store for the block; raise ConcurrentRunError when taken.

    ``wait`` is how many seconds to keep trying while another session holds it (0: give up at once).
    The lock is released when the block ends or the process dies (session locks, file locks), so a
    crashed run never blocks the next one.
    """
    dialect = engine.dialect.name
    deadline = time.monotonic() + wait
    if dialect == "sqlite":
        with _file_lock(engine, name, deadline):
            yield
        return
    with engine.connect() as connection:
        params: dict[str, Any]
        if dialect == "postgresql":
            attempt, params = sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(name)}
        elif dialect in {"mysql", "mariadb"}:
            # GET_LOCK names are global to the server (PostgreSQL advisory locks are per database), so the
            # database is part of the name; MariaDB lock names are at most 64 characters.
            scoped = f"{connection.exec_driver_sql('SELECT DATABASE()').scalar()}/{name}"
            lock_name = "lethe:" + hashlib.sha256(scoped.encode()).hexdigest()[:40]
            attempt, params = sa.text("SELECT GET_LOCK(:n, 0)"), {"n": lock_name}
        else:  # pragma: no cover - other dialects are refused earlier
            raise ConcurrentRunError(f"no lock implementation for {dialect}")
        while True:
            got = connection.execute(attempt, params).scalar() == 1  # true (PostgreSQL) or 1 (MariaDB)
            connection.commit()
            if got or time.monotonic() >= deadline:
                break
            time.sleep(_RETRY_SECONDS)
        if not got:
            raise ConcurrentRunError(f"another run is working on {name}: try again when it has finished")
        try:
            yield
        finally:
            if dialect == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(name)})
            else:
                connection.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": lock_name})
            connection.commit()


@contextmanager
def _file_lock(engine: Engine, name: str, deadline: float) -> Iterator[None]:
    database = engine.url.database
    if database and database.startswith("file:"):  # a URI filename (``?uri=true``): its path part
        database = database[len("file:") :].split("?", 1)[0]
    if not database or database == ":memory:" or "mode=memory" in str(engine.url):
        yield  # a private in-memory database cannot be shared
        return
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    path = Path(f"{database}.lethe-{digest}.lock")
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(
                        f"another run is working on {name}: try again when it has finished"
                    ) from None
                time.sleep(_RETRY_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock
