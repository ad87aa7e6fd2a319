"""B1: anonymise the expired 40% of a ``people`` table: HMAC token, NULL, date generalised to the year.

Lethe: a policy rule enforced by ``lethe.retention.enforce.enforce_rule`` (adaptive key spans, the default: per
span one set-based ``UPDATE ... RETURNING`` (on MariaDB a locking SELECT of the span's pending keys, then the
UPDATE), the keys' leaves and Merkle root in the journal row, commit; ledger entries copied in groups; a
verifying count after). Baselines, each on a fresh copy of the same data:

* ``one UPDATE``: one hand-written set-based ``UPDATE ... WHERE created_at < cutoff`` with the very same
  in-database expressions (the operators' ``sql()``: equal work per row).
* ``pandas``: ``pd.read_sql`` of the expired rows, the values computed in Python (``hmac``/``hashlib``,
  ``pd.to_datetime``), written back by primary key with one ``executemany`` UPDATE, in one transaction.
* ``row-by-row``: the expired keys read, then one ``UPDATE ... WHERE id = ?`` per row (same in-database
  expressions), all in one transaction: how row-at-a-time erasure tools work.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from benchmarks.common import STORE, digest, expired_count, master_key, run_lethe
from benchmarks.harness import LETHE, Benchmark, Method, Run, Work
from benchmarks.report import Target
from benchmarks.tables import CUTOFF, PEOPLE, PEOPLE_RULE, TABLE, people
from lethe.operators import ColumnShape, OperatorContext
from lethe.operators.dialects import bind_keys, column_key
from lethe.operators.generalise import GeneraliseOperator, GeneraliseOptions
from lethe.operators.hmac import TOKEN_PREFIX, HmacOperator, HmacOptions
from lethe.stores.engines import create_store_engine

BASELINES = {"update": "one UPDATE", "pandas": "pandas", "rows": "row-by-row"}
TARGETS = {
    ("B1", "one UPDATE"): Target("<= 1.30", at_most=1.3),
    ("B1", "pandas"): Target("<= 0.50 (pandas >= 2x)", at_most=0.5),
    ("B1", "row-by-row"): Target("report"),
}


# ------------------------------------------------------------------------------------------------ baselines


def _contexts(dialect: str) -> dict[str, OperatorContext]:
    """The contexts Lethe builds for the three columns (same scope, so the same keys and tokens)."""
    shapes = {
        "email": ColumnShape("text", 100, False),
        "phone": ColumnShape("text", 32, True),
        "birth_date": ColumnShape("date", None, True),
    }
    return {
        name: OperatorContext(
            dialect=dialect, scope=f"{STORE}.{TABLE}.{name}", column=shape, master_key=master_key()
        )
        for name, shape in shapes.items()
    }


def _set_clause(table: sa.Table, dialect: str) -> dict[str, Any]:
    """The SET clause: the operators' own SQL, as Lethe's batches use it."""
    ctx = _contexts(dialect)
    return {
        "email": HmacOperator.sql(HmacOptions(), table.c.email, [table.c.id], ctx["email"]),
        "phone": sa.null(),
        "birth_date": GeneraliseOperator.sql(
            GeneraliseOptions(to="year"), table.c.birth_date, [table.c.id], ctx["birth_date"]
        ),
    }


def _prepare(connection: sa.Connection, dialect: str) -> None:
    """Register the SQLite functions the expressions call and bind the transaction's keys (what
    ``operators.apply.prepare_rewrites`` does for Lethe)."""
    raw = connection.connection.driver_connection
    for name, ctx in _contexts(dialect).items():
        operator = HmacOperator if name == "email" else GeneraliseOperator
        operator.prepare(raw, ctx)
        bind_keys(connection, operator.keys(ctx))


def one_update(url: str) -> int:
    """One set-based UPDATE of every expired row; return the rows changed."""
    engine = create_store_engine(url)
    table = people()
    try:
        with engine.begin() as connection:
            _prepare(connection, engine.dialect.name)
            statement = (
                sa.update(table)
                .where(table.c.created_at < CUTOFF)
                .values(_set_clause(table, engine.dialect.name))
            )
            return int(connection.execute(statement).rowcount)
    finally:
        engine.dispose()


def pandas_way(url: str) -> int:
    """read_sql the expired rows, transform in Python, executemany UPDATE by key; return the rows written."""
    engine = create_store_engine(url)
    table = people()
    key = column_key(master_key(), "hmac", f"{STORE}.{TABLE}.email", 1)
    prefix = TOKEN_PREFIX.format(version=1)
    try:
        with engine.begin() as connection:
            query = sa.select(table.c.id, table.c.email, table.c.birth_date).where(
                table.c.created_at < CUTOFF
            )
            frame = pd.read_sql(query, connection)
            frame["email"] = frame["email"].map(
                lambda v: prefix + hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()
            )
            frame["phone"] = None
            frame["birth_date"] = pd.to_datetime(frame["birth_date"]).dt.year.map(
                lambda y: date(int(y), 1, 1)
            )
            statement = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"))
                .values(
                    email=sa.bindparam("b_email"),
                    phone=sa.bindparam("b_phone"),
                    birth_date=sa.bindparam("b_birth_date"),
                )
            )
            records = frame.rename(columns=lambda c: f"b_{c}").to_dict("records")
            if records:
                connection.execute(statement, records)
            return len(records)
    finally:
        engine.dispose()


def row_by_row(url: str) -> int:
    """Read the expired keys, then one UPDATE per key (one transaction); return the rows changed."""
    engine = create_store_engine(url)
    table = people()
    try:
        with engine.begin() as connection:
            dialect = engine.dialect.name
            _prepare(connection, dialect)
            keys = (
                connection.execute(sa.select(table.c.id).where(table.c.created_at < CUTOFF)).scalars().all()
            )
            statement = (
                sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(_set_clause(table, dialect))
            )
            changed = 0
            for key in keys:
                changed += connection.execute(statement, {"b_id": key}).rowcount
            return changed
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------------- B1


def lethe_work(workdir: Path, expected: int, batch_size: int | None = None) -> Work:
    """Lethe's measurement: enforce the rule and insist it anonymised exactly the expired rows."""

    def work(url: str) -> None:
        result = run_lethe(PEOPLE_RULE, url, workdir, batch_size=batch_size)
        if result.applied != expected or result.remaining:
            raise AssertionError(f"lethe anonymised {result.applied} rows, expected {expected}")

    return work


def _counted(function: Any, expected: int) -> Work:
    def work(url: str) -> None:
        changed = function(url)
        if changed != expected:
            raise AssertionError(f"{function.__name__} changed {changed} rows, expected {expected}")

    return work


def methods(run: Run, baselines: tuple[str, ...] = tuple(BASELINES)) -> list[Method]:
    """Lethe first, then the chosen baselines."""
    expected = expired_count(run.size)
    functions = {"update": one_update, "pandas": pandas_way, "rows": row_by_row}
    return [(LETHE, lethe_work(run.workdir, expected))] + [
        (BASELINES[name], _counted(functions[name], expected)) for name in baselines
    ]


def table_digest(url: str, _output: object = None) -> dict[str, tuple[int, str]]:
    """The final data of a copy (to prove every method wrote the same values)."""
    return digest(url, [people()])


BENCH = Benchmark(
    id="B1",
    summary="anonymise the expired 40% of a table: Lethe vs one UPDATE, pandas, row by row",
    data=PEOPLE,
    methods=methods,
    targets=TARGETS,
    size=1_000_000,
    quick=10_000,
    check=table_digest,
    default=True,
)
