"""How retention and erasure apply operators: prepare a transaction for them, rewrite rows in Python.

``prepare_rewrites`` runs at the start of every transaction that rewrites rows: SQLite functions, the
database's own needs (pgcrypto), and the keys the SQL names, bound once in a short statement
(``dialects.bind_keys``). Columns whose values are computed in Python (``Operator.in_python``: ``encrypt``
everywhere; ``hmac``, ``noise`` and ``fake`` on a store with ``tokens: in_process``) need none of it and send
no key to the database: ``rewrite_in_python`` reads their values, computes the new ones and writes them back
by primary key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from lethe.operators.base import Operator, OperatorContext
from lethe.operators.dialects import bind_keys


class Rewrite(Protocol):
    """One column of a table, its operator, options and context (``retention_sql.ColumnRewrite``)."""

    @property
    def column(self) -> str: ...
    @property
    def operator(self) -> type[Operator]: ...
    @property
    def options(self) -> Any: ...
    @property
    def context(self) -> OperatorContext: ...


def prepare_rewrites(connection: sa.Connection, rewrites: Sequence[Rewrite], *, ensure: bool = True) -> None:
    """Prepare the connection's transaction for the SQL of ``rewrites``; ``ensure`` checks the database too."""
    in_sql = [r for r in rewrites if not r.operator.in_python(r.context)]
    raw = connection.connection.driver_connection
    for rewrite in in_sql:
        rewrite.operator.prepare(raw, rewrite.context)
        if ensure:
            rewrite.operator.ensure(connection, rewrite.context)
    bind_keys(connection, [key for r in in_sql for key in r.operator.keys(r.context)])


def python_values(rewrites: Sequence[Rewrite], key: tuple[Any, ...], values: Sequence[Any]) -> dict[str, Any]:
    """The new values of one row, ``v_<column>`` each, from its primary key and current ``values``."""
    return {
        f"v_{r.column}": None if value is None else r.operator.python(r.options, value, key, r.context)
        for r, value in zip(rewrites, values, strict=True)
    }


def rewrite_in_python(
    connection: sa.Connection,
    table: sa.Table,
    rows: sa.ColumnElement[bool],
    rewrites: Sequence[Rewrite],
    values: Mapping[str, Any],
    still: sa.ColumnElement[bool] | None = None,
) -> int:
    """Rewrite ``rows`` of ``table``: ``rewrites`` computed in Python, ``values`` (SQL) alongside.

    Each row is written back by its primary key; ``still`` (e.g. "still pending") is tested again then.
    ``values`` may refer to a rewrite's new value as ``sa.bindparam("v_<column>")``; rewrites it does not
    name are set to theirs. Returns the number of rows changed.
    """
    pk = list(table.primary_key.columns)
    n = len(pk)
    selected = connection.execute(sa.select(*pk, *(table.c[r.column] for r in rewrites)).where(rows)).all()
    params = [
        {**{f"k_{i}": v for i, v in enumerate(row[:n])}, **python_values(rewrites, tuple(row[:n]), row[n:])}
        for row in selected
    ]
    if not params:
        return 0
    new = {r.column: sa.bindparam(f"v_{r.column}") for r in rewrites} | dict(values)
    where = [c == sa.bindparam(f"k_{i}") for i, c in enumerate(pk)]
    statement = sa.update(table).where(*where, *([] if still is None else [still])).values(new)
    return int(connection.execute(statement, params).rowcount)
