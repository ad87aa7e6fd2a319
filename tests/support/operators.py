"""Shared builders of the operator tests: a ``people`` table of awkward values, contexts, one rewrite.

``rewrite`` does what the retention engine does with an in-database operator, so the operator tests check
the SQL of each engine against the Python reference without the rest of the engine. Imported by
``tests/operators/test_operators*.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from lethe.operators import ColumnShape, Operator, OperatorContext, TypeKind
from lethe.operators.dialects import bind_keys

MASTER = bytes(range(32))
SIV_KEY = bytes(range(64, 128))
SCOPE_PREFIX = "crm.people."

COLUMNS: dict[str, tuple[sa.types.TypeEngine[Any], TypeKind, int | None]] = {
    "name": (sa.String(120), "text", 120),
    "note": (sa.Text(), "text", None),
    "email": (sa.String(120), "text", 120),
    "code": (sa.String(20), "text", 20),
    "born": (sa.Date(), "date", None),
    "seen": (sa.DateTime(timezone=True), "datetime", None),
    "age": (sa.Integer(), "integer", None),
    "amount": (sa.Numeric(10, 2), "numeric", None),
}

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Zoë Ångström",
        "note": "likes tea",
        "email": "zoe.angstrom@example.org",
        "code": "AB12",
        "born": date(1984, 7, 15),
        "seen": datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        "age": 42,
        "amount": Decimal("1234.56"),
    },
    {
        "id": 2,
        "name": "李小龙",
        "note": "李小龙的笔记 😀",
        "email": "李@例子.中国",
        "code": "李小龙",
        "born": date(2000, 2, 29),
        "seen": datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC),
        "age": 7,
        "amount": Decimal("-0.05"),
    },
    {
        "id": 3,
        "name": "Ann 😀 Lee",
        "note": "ﬁ combining é and e\u0301",
        "email": "ann+tag@mail.example.com",
        "code": "SW1A 1AA",
        "born": date(1999, 12, 31),
        "seen": datetime(1999, 12, 31, 0, 0, 1, tzinfo=UTC),
        "age": -17,
        "amount": Decimal("-1234.56"),
    },
    {  # empty strings, and dates already generalised to the year
        "id": 4,
        "name": "",
        "note": "",
        "email": "",
        "code": "",
        "born": date(1970, 1, 1),
        "seen": datetime(2022, 1, 1, tzinfo=UTC),
        "age": 0,
        "amount": Decimal("0.00"),
    },
    {"id": 5} | {column: None for column in COLUMNS},
    {  # long values
        "id": 6,
        "name": "x" * 120,
        "note": "é" * 3000,
        "email": "a" * 100 + "@b.example",
        "code": "y" * 20,
        "born": date(2024, 2, 1),
        "seen": datetime(2024, 2, 1, tzinfo=UTC),
        "age": 123456,
        "amount": Decimal("98765432.10"),
    },
    {  # characters that are special somewhere: quotes, LIKE wildcards, backslash, trailing space
        "id": 7,
        "name": "O'Brien \"%_\\ ",
        "note": "abc ",
        "email": "@leading",
        "code": "no-at-sign",
        "born": date(1960, 6, 30),
        "seen": datetime(1960, 6, 30, 12, 0, tzinfo=UTC),
        "age": 100,
        "amount": Decimal("10.00"),
    },
]


def create_people(engine: Engine) -> sa.Table:
    """A fresh ``people`` table holding ``ROWS``."""
    metadata = sa.MetaData()
    table = sa.Table(
        "people",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(name, type_) for name, (type_, _, _) in COLUMNS.items()),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    return table


def context(engine: Engine, column: str, key_version: int = 1, scope: str | None = None) -> OperatorContext:
    """The context the retention engine would build for ``people.column``."""
    _, kind, length = COLUMNS[column]
    return OperatorContext(
        dialect=engine.dialect.name,
        scope=scope or SCOPE_PREFIX + column,
        column=ColumnShape(kind=kind, length=length, nullable=True),
        master_key=MASTER,
        key_version=key_version,
        siv_key=SIV_KEY,
    )


def context_without_engine(column: str, kind: TypeKind) -> OperatorContext:
    """A context for Python-only tests."""
    return OperatorContext("sqlite", SCOPE_PREFIX + column, ColumnShape(kind, None, True), MASTER, 1, SIV_KEY)


def read(engine: Engine, table: sa.Table, column: str) -> dict[int, Any]:
    """``{id: value}`` of a column."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table.c.id, table.c[column])).tuples().all())


def applied_rows(engine: Engine, table: sa.Table, predicate: sa.ColumnElement[Any]) -> set[int]:
    """Ids of the rows where ``predicate`` is true."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id).where(predicate)).scalars())


def rewrite(
    engine: Engine, table: sa.Table, op: type[Operator], options: BaseModel, ctx: OperatorContext
) -> int:
    """What the retention engine does: ensure, prepare, bind keys, then one set-based UPDATE skipping handled rows."""
    column = table.c[ctx.scope.rsplit(".", 1)[1]]
    statement = sa.update(table).values({column: op.sql(options, column, [table.c.id], ctx)})
    predicate = op.applied(options, column, ctx)
    if predicate is not None:
        statement = statement.where(sa.not_(predicate))
    with engine.begin() as conn:
        op.ensure(conn, ctx)
        op.prepare(conn.connection.dbapi_connection, ctx)
        bind_keys(conn, op.keys(ctx))
        return conn.execute(statement).rowcount
