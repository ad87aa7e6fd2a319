"""Data stores: SQLAlchemy engines built from the policy, opened lazily with their reflected schemas.

Engine options that differ per database live here (SQLite: foreign keys on, a busy timeout, WAL; servers:
pre-ping and connect timeouts), so the rest of Lethe builds statements with SQLAlchemy Core and does not
care which engine runs them. URLs are never printed with their password (``safe_url``). Only SQLite,
PostgreSQL, MySQL and MariaDB URLs are accepted (``url_problem``, checked when the policy loads), and a
user's SQLite store must exist: Lethe never creates one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from lethe.errors import SchemaMismatchError, SettingsError, StoreError
from lethe.policy.model import Policy, TableRef
from lethe.policy.urls import SUPPORTED_URLS, safe_url, url_problem
from lethe.stores.schema import SchemaInfo, TableInfo, did_you_mean, reflect_schema, split_name


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_file(url: sa.URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database or a ``file:`` URI."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def create_store_engine(url: str | sa.URL, *, create: bool = True, **options: Any) -> Engine:
    """An engine for ``url`` with Lethe's per-dialect settings; errors never show the password.

    ``create=False`` (users' stores, see ``Stores``) refuses a SQLite file that does not exist, which SQLite
    would silently create empty: only the demo and Lethe's own state databases (ledger, request register)
    are created, folders included. A URL Lethe cannot use is a SettingsError (exit 2).
    """
    problem = url_problem(url)
    if problem is not None:
        raise SettingsError(f"cannot use database URL {safe_url(url)}: {problem}")
    parsed = make_url(url)
    path = _sqlite_file(parsed)
    if path is not None and not create and not path.is_file():
        raise StoreError(f"no such database file {path} (only `lethe demo` creates one)")
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folders
        if parsed.get_backend_name() == "sqlite":
            engine = sa.create_engine(parsed, **options)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", 10)
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **options)
    except NoSuchModuleError:
        raise SettingsError(
            f"cannot use database URL {safe_url(url)}: unknown driver {parsed.drivername!r}; "
            f"use one of {', '.join(SUPPORTED_URLS.values())}"
        ) from None
    except ImportError as exc:  # the dialect is known, its driver package is not installed
        raise SettingsError(
            f"cannot use database URL {safe_url(url)}: the driver {exc.name or parsed.get_driver_name()} "
            f"is not installed; use one of {', '.join(SUPPORTED_URLS.values())}"
        ) from None
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise StoreError(f"cannot use database URL {safe_url(url)}: {exc.__class__.__name__}") from None


def ensure_table(engine: Engine, table: sa.Table) -> None:
    """Create one of Lethe's own tables in ``engine``'s database when it is missing.

    Two processes may both find it missing and race to create it; the loser finds it there on a retry. A
    table that cannot be created is a StoreError naming it and the database (never the password).
    """
    for attempt in range(3):
        try:
            table.create(engine, checkfirst=True)
            return
        except SQLAlchemyError as exc:
            if attempt == 2:
                raise StoreError(
                    f"cannot create {table.name} in {safe_url(engine.url)} ({type(exc).__name__})"
                ) from None
            time.sleep(0.05 * (attempt + 1))


class Stores:
    """The engines and reflected schemas of a policy's stores, opened lazily and cached."""

    def __init__(self, policy: Policy, **engine_options: Any) -> None:
        self.policy = policy
        self._engine_options = engine_options
        self._engines: dict[str, Engine] = {}
        self._schemas: dict[tuple[str, str | None], SchemaInfo] = {}
        self._tables: dict[tuple[str, str], sa.Table] = {}

    def engine(self, store: str) -> Engine:
        """The engine of ``store``."""
        if store not in self._engines:
            config = self.policy.stores.get(store)
            if config is None:
                raise SchemaMismatchError(f"unknown store {store!r}{did_you_mean(store, self.policy.stores)}")
            try:
                # A user's store is never created: a SQLite path that does not exist is a mistake.
                self._engines[store] = create_store_engine(config.url, create=False, **self._engine_options)
            except (StoreError, SettingsError) as exc:
                raise exc.__class__(f"store {store}: {exc}") from None
        return self._engines[store]

    def schema(self, store: str, schema: str | None = None) -> SchemaInfo:
        """The reflected schema of ``store``; reflect again after ``forget``."""
        key = (store, schema)
        if key not in self._schemas:
            self._schemas[key] = reflect_schema(self.engine(store), schema)
        return self._schemas[key]

    def table(self, ref: TableRef) -> TableInfo:
        """The reflected table a ``store.table`` reference names."""
        schema, name = split_name(ref.table)
        try:
            return self.schema(ref.store, schema).table(name)
        except SchemaMismatchError as exc:
            raise SchemaMismatchError(f"store {ref.store}: {exc}") from None

    def sa_table(self, store: str, name: str) -> sa.Table:
        """A typed ``sa.Table`` of the store (``schema.table`` allowed), built once per ``Stores``.

        Built from the schema already reflected (columns, types, primary key): reflecting the table again
        with ``autoload_with`` would cost a dozen catalog queries per table. Foreign keys are left out: they
        are read from ``TableInfo.foreign_keys``, which names tables this ``sa.Table`` cannot resolve.
        """
        key = (store, name)
        if key not in self._tables:
            info = self.table(TableRef(store=store, table=name))  # a clear error when it is missing
            schema, _, table = name.rpartition(".")
            columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in info.columns.values()]
            primary_key = [sa.PrimaryKeyConstraint(*info.primary_key)] if info.primary_key else []
            self._tables[key] = sa.Table(table, sa.MetaData(), *columns, *primary_key, schema=schema or None)
        return self._tables[key]

    def forget(self) -> None:
        """Drop cached schemas and tables (after DDL)."""
        self._schemas.clear()
        self._tables.clear()

    def ping(self, store: str) -> None:
        """Connect once; raise StoreError naming the store (not the password) when it is unreachable."""
        try:
            with self.engine(store).connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {store}: cannot connect to {safe_url(self.engine(store).url)} ({exc.__class__.__name__})"
            ) from exc

    def close(self) -> None:
        """Dispose of every engine."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
