"""Spans: a retention batch is one statement over a range of primary keys, sized to a target time.

A span is ``after < pk <= upto`` in primary-key order. Its end comes from the primary-key index alone
(``span_end``: the key ``n`` rows after ``after``), never from the pending predicate, so finding it costs an
index walk and no evaluation of the rule. The batch (``apply_span``) is then one statement over the span and
the pending predicate that hands back the keys it changed:

* PostgreSQL, SQLite (3.35 and later): ``UPDATE``/``DELETE ... RETURNING pk``. Which engine has which form is
  read from SQLAlchemy's dialect (``update_returning``, ``delete_returning``, which check the SQLite library's
  version): an older SQLite takes the locking path below;
* MariaDB: ``DELETE ... RETURNING pk``; its UPDATE has no RETURNING, so the span's pending keys are locked
  (``SELECT ... FOR UPDATE``), then one UPDATE over the same span and predicate, whose row count must equal
  the locked keys (anything else means a concurrent writer got in, and the batch fails);
* deletes with child rows: children first, deleted or detached by statements that select their parents
  through the span and the pending predicate (``lethe.retention.cascade.delete_children_of``; parents locked
  on PostgreSQL, joined on MariaDB), then ``DELETE ... RETURNING`` of the parents. When the predicate reads a
  child table (``latest_of`` a child's column), deleting children would change it: the parents' pending keys
  are locked and bound first. Rewrites computed in Python lock the keys too and write back by key (the
  *key-bound* paths, whose spans stay below ``KEY_BOUND_CEILING`` rows).

``SpanSizer`` adapts the span: it aims at ``target`` seconds per batch (default 0.5 s) between ``floor`` and
``ceiling`` rows of the index, so a fast engine makes few round trips and a busy one keeps its locks short. A
fixed ``batch_size`` (the rule's, or the command's) turns the adaptation off: every span is that many rows of
the index (so a batch changes at most that many rows, fewer where rows in the span are not pending).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lethe.errors import VerificationError
from lethe.operators.apply import rewrite_in_python
from lethe.retention.cascade import ChildLink, delete_children, delete_children_of
from lethe.retention.sql import RuleSql

TARGET_SECONDS = 0.5
FLOOR_ROWS = 1_000
CEILING_ROWS = 250_000
FIRST_SPAN = 5_000
# Paths that bind every key (IN lists) stay within every driver's limit on bound parameters.
KEY_BOUND_CEILING = 10_000
_MAX_GROWTH = 4.0  # a span grows at most 4x per batch: one fast batch on a cold cache is no promise

Key = tuple[Any, ...]


@dataclass
class SpanSizer:
    """The number of index rows of the next span: fixed, or adapted to a target time per batch."""

    fixed: int | None = None
    target: float = TARGET_SECONDS
    floor: int = FLOOR_ROWS
    ceiling: int = CEILING_ROWS
    size: int = FIRST_SPAN

    def __post_init__(self) -> None:
        """Start at the fixed size, or at the first span within floor and ceiling."""
        self.floor = min(self.floor, self.ceiling)
        self.size = self.fixed or max(self.floor, min(self.size, self.ceiling))

    def update(self, rows: int, seconds: float) -> None:
        """After a span of ``rows`` index rows took ``seconds``: the next span's size."""
        if self.fixed or rows <= 0:
            return
        rate = rows / max(seconds, 1e-3)
        wanted = min(rate * self.target, self.size * _MAX_GROWTH)
        self.size = int(max(self.floor, min(wanted, self.ceiling)))


def key_bound(sql: RuleSql, links: Sequence[ChildLink]) -> bool:
    """True when the rule's batches bind their keys (children whose predicate reads them, Python rewrites)."""
    return bool(sql.python_rewrites) or (
        sql.rule.action == "delete" and bool(links) and reads_children(sql, links)
    )


def span_end(
    connection: sa.Connection, sql: RuleSql, after: Key | None, size: int, within: Key | None = None
) -> Key | None:
    """The key ``size`` rows after ``after`` in the primary-key index; None when fewer rows remain (up to
    ``within``, the upper bound of a partition, when one is given)."""
    query = sa.select(*sql.pk).where(sql.after(after)).order_by(*sql.pk).limit(1).offset(size - 1)
    if within is not None:
        query = query.where(sql.upto(within))
    row = connection.execute(query).first()
    return None if row is None else tuple(row)


def apply_span(
    connection: sa.Connection,
    sql: RuleSql,
    links: list[ChildLink],
    after: Key | None,
    upto: Key | None,
    as_of: datetime,
) -> tuple[list[Any], dict[str, int]]:
    """Change the span's pending rows; return the changed keys (bare values for a one-column key, else
    tuples) and counts (``rows``, and per child table)."""
    where = sa.and_(sql.span(after, upto), sql.pending)
    dialect = connection.dialect
    action = sql.rule.action
    if action == "delete" and links:
        return _delete_with_children(connection, sql, links, where)
    if action == "delete" and dialect.delete_returning:
        keys = _returned(connection, sa.delete(sql.table).where(where).returning(*sql.pk), sql)
        return keys, {"rows": len(keys)}
    if action != "delete" and not sql.python_rewrites and dialect.update_returning:
        statement = sa.update(sql.table).where(where).values(sql.values(as_of)).returning(*sql.pk)
        keys = _returned(connection, statement, sql)
        return keys, {"rows": len(keys)}
    keys = _locked(connection, sql, where)
    if not keys:
        return [], {"rows": 0}
    if action == "delete":
        rows = connection.execute(sa.delete(sql.table).where(where)).rowcount
    elif sql.python_rewrites:
        rows = rewrite_in_python(
            connection, sql.table, where, sql.python_rewrites, sql.values(as_of), still=sql.pending
        )
    else:
        rows = connection.execute(sa.update(sql.table).where(where).values(sql.values(as_of))).rowcount
    _check(sql, rows, len(keys))
    return keys, {"rows": rows}


def reads_children(sql: RuleSql, links: Sequence[ChildLink]) -> bool:
    """True when the rule's predicate reads a table its deletes cascade to (``latest_of`` a child's column)."""
    return bool(sql.related_tables & {name for link in links for name in _link_tables(link)})


def _delete_with_children(
    connection: sa.Connection, sql: RuleSql, links: list[ChildLink], where: sa.ColumnElement[bool]
) -> tuple[list[Any], dict[str, int]]:
    """Children first, then the parents: in SQL through the span, or through the parents' locked keys."""
    if not reads_children(sql, links) and connection.dialect.delete_returning:
        counts = delete_children_of(connection, links, sql.table, where)
        keys = _returned(connection, sa.delete(sql.table).where(where).returning(*sql.pk), sql)
        return keys, {"rows": len(keys), **counts}
    keys = _locked(connection, sql, where)
    if not keys:
        return [], {"rows": 0}
    # Deleting a child can change a predicate that reads the children (no recent order left, no order at all):
    # then the parents are named by their locked keys. MariaDB also refuses a DELETE whose subquery reads the
    # table it deletes from (error 1093).
    tuples = keys if len(sql.pk) != 1 else [(k,) for k in keys]
    target = sql.key_in(tuples)
    counts = delete_children(connection, links, sa.select(*sql.pk).where(target))
    rows = connection.execute(sa.delete(sql.table).where(target)).rowcount
    _check(sql, rows, len(keys))
    return keys, {"rows": rows, **counts}


def _returned(connection: sa.Connection, statement: Any, sql: RuleSql) -> list[Any]:
    """The keys a RETURNING statement hands back."""
    result = connection.execute(statement)
    return list(result.scalars().all()) if len(sql.pk) == 1 else [tuple(r) for r in result.all()]


def _locked(connection: sa.Connection, sql: RuleSql, where: sa.ColumnElement[bool]) -> list[Any]:
    """The span's pending keys in key order, locked on servers (SQLite's write lock covers the batch)."""
    query = sa.select(*sql.pk).where(where).order_by(*sql.pk)
    if sql.dialect != "sqlite":
        query = query.with_for_update()
    return _returned(connection, query, sql)


def _check(sql: RuleSql, rows: int, keys: int) -> None:
    """The statement changed exactly the locked keys; anything else means a concurrent writer got in."""
    if rows != keys:
        raise VerificationError(f"retention.{sql.rule.name}: batch changed {rows} rows, expected {keys}")


def _link_tables(link: ChildLink) -> list[str]:
    """The child table of a link and every table below it."""
    return [link.table.name, *(name for child in link.children for name in _link_tables(child))]
