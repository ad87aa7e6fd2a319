"""Deterministic generator of the demo "shop" database used by the demo, the tests and the benchmarks.

The same :class:`DemoSpec` produces the same rows on every run and on every engine: Faker is seeded once
(``seed_instance``) and always called through an explicit locale, every other choice comes from one
``random.Random(seed)``, and all dates derive from ``spec.as_of`` (never from the clock). IDs are assigned
here (1..N per table), timestamps are UTC with second precision.

Shapes worth knowing when writing policies or tests against it:

* customers are created uniformly over ``years`` before ``as_of``; each has an "active life" that ends
  after an exponentially distributed time, so roughly 30 % have had no order, login, session or ticket in
  the last three years while others are active right up to ``as_of``;
* some customers who left have ``status='closed'`` (half of those also ``deleted_at``); exactly one
  customer in each block of 100 ids is on legal hold;
* ~60 % have a newsletter consent (a third of them also profiling), ~20 % of consents are withdrawn;
  newsletter sends fall inside the consent window, except one stale send after withdrawal for every
  tenth withdrawn newsletter consent (about 0.5 % of sends) so a consent check has something to find;
* support ticket bodies sometimes repeat the customer's email, phone or name;
* web sessions (IPv4 and IPv6) span each customer's active life, plus ~10 % anonymous sessions.

Run ``python -m lethe.demo.seed --url sqlite:///var/demo.db --customers 5000`` to seed a database.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from lethe.demo.generator import CHUNK_CUSTOMERS, generate
from lethe.demo.schema import TABLES, metadata
from lethe.demo.spec import DemoSpec
from lethe.errors import LetheError, StoreError

__all__ = ["CHUNK_CUSTOMERS", "TABLES", "DemoSpec", "create_schema", "generate", "main", "metadata", "seed"]


def create_schema(engine: sa.Engine, *, drop_existing: bool = False) -> None:
    """Create the demo tables, first dropping existing ones (children first) if asked."""
    try:
        if drop_existing:
            metadata.drop_all(engine)
        metadata.create_all(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot create the demo schema on {engine.dialect.name}") from exc


def _prepare_sqlite(connection: sa.Connection) -> None:
    """Enforce foreign keys and trade durability of the last commit for speed (WAL, synchronous=NORMAL)."""
    # PRAGMAs that change transaction behaviour are ignored inside a transaction; pysqlite only opens one
    # before DML, so these run outside and the commit merely closes SQLAlchemy's own bookkeeping.
    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != 1:
        raise StoreError("cannot enable SQLite foreign keys on this connection (open transaction?)")
    connection.commit()


def _sync_postgres_sequences(connection: sa.Connection) -> None:
    """Move each SERIAL sequence past the explicit ids, so later inserts without an id do not collide."""
    for name in TABLES:
        sequence = f"pg_get_serial_sequence('{name}', 'id')"
        connection.exec_driver_sql(f"SELECT setval({sequence}, COALESCE(MAX(id), 0) + 1, false) FROM {name}")


def seed(
    engine: sa.Engine,
    spec: DemoSpec = DemoSpec(),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """(Re)create the demo tables and fill them for ``spec``; returns the number of rows per table."""
    create_schema(engine, drop_existing=True)
    counts = dict.fromkeys(TABLES, 0)
    table = ""
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                _prepare_sqlite(connection)
            for done, chunk in generate(spec):
                for table in TABLES:
                    rows = chunk[table]
                    if rows:
                        connection.execute(metadata.tables[table].insert(), rows)
                        counts[table] += len(rows)
                table = ""
                connection.commit()  # one transaction per chunk: bounded locks and undo, visible progress
                if progress is not None:
                    progress(done, spec.customers)
            if engine.dialect.name == "postgresql":
                _sync_postgres_sequences(connection)
                connection.commit()
    except sa.exc.SQLAlchemyError as exc:
        # Driver messages echo statement parameters; name the table only.
        where = f" into {table}" if table else ""
        raise StoreError(f"seeding the demo database failed{where} ({type(exc).__name__})") from exc
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: seed a database and print the row counts."""
    parser = argparse.ArgumentParser(
        prog="python -m lethe.demo.seed", description="Seed the demo shop database."
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. sqlite:///var/demo.db")
    parser.add_argument("--customers", type=int, default=DemoSpec.customers, help="number of customers")
    parser.add_argument("--seed", type=int, default=DemoSpec.seed, help="random seed")
    args = parser.parse_args(argv)
    try:
        spec = DemoSpec(customers=args.customers, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        print(f"{done:>9,}/{total:,} customers  {time.perf_counter() - started:7.1f} s", file=sys.stderr)

    engine = sa.create_engine(args.url)
    try:
        counts = seed(engine, spec, progress=report)
    except LetheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        engine.dispose()
    for name, count in counts.items():
        print(f"{name:<20} {count:>10,}")
    print(f"{'total':<20} {sum(counts.values()):>10,}")
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
