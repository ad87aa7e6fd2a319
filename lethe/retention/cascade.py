"""Rows that point at deleted rows: children first, so foreign keys are never violated.

A child whose foreign key is NOT NULL is deleted with its parent (and its own children before it); a child
whose key is nullable is detached (the key set to NULL), as ``ON DELETE CASCADE`` and ``ON DELETE SET NULL``
would. Plans count both, so a delete never surprises: ``lethe retention plan`` lists them per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lethe.errors import SchemaMismatchError
from lethe.stores.engines import Stores

MAX_DEPTH = 8


@dataclass
class ChildLink:
    """A table whose foreign key points at a parent table."""

    table: sa.Table
    fk_column: sa.Column[Any]
    parent_column: str
    detach: bool
    children: list[ChildLink] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``table (delete)`` or ``table (detach)``, as plans show it."""
        return f"{self.table.name} ({'detach' if self.detach else 'delete'})"


def child_links(stores: Stores, store: str, parent: sa.Table, depth: int = 0) -> list[ChildLink]:
    """Foreign keys pointing at ``parent``, recursively for deleted children."""
    if depth > MAX_DEPTH:
        raise SchemaMismatchError(f"foreign keys nest deeper than {MAX_DEPTH} levels below {parent.name}")
    links: list[ChildLink] = []
    for info, fk in stores.schema(store).children_of(parent.name):
        if len(fk.columns) != 1:
            raise SchemaMismatchError(
                f"{info.name}: composite foreign keys to {parent.name} are not supported"
            )
        child = parent if info.name == parent.name else stores.sa_table(store, info.name)
        column = child.c[fk.columns[0]]
        detach = bool(column.nullable)
        if child is parent and not detach:
            raise SchemaMismatchError(
                f"{parent.name} references itself with a NOT NULL key: cannot delete safely"
            )
        link = ChildLink(child, column, fk.ref_columns[0], detach)
        if not detach:
            link.children = child_links(stores, store, child, depth + 1)
        links.append(link)
    return links


def _child_keys(link: ChildLink, parents: sa.Select[Any]) -> sa.Select[Any]:
    pk = list(link.table.primary_key.columns)
    if len(pk) != 1:
        raise SchemaMismatchError(f"{link.table.name}: children need a single-column primary key to cascade")
    return sa.select(pk[0]).where(link.fk_column.in_(parents))


def _parent_values(link: ChildLink, parents: sa.Select[Any]) -> sa.Select[Any]:
    # ``parents`` selects the parent's primary key; a foreign key to another unique column needs that column.
    parent_table = parents.get_final_froms()[0]
    pk = [c.name for c in parent_table.primary_key.columns] if isinstance(parent_table, sa.Table) else []
    if pk == [link.parent_column] or not isinstance(parent_table, sa.Table):
        return parents
    return sa.select(parent_table.c[link.parent_column]).where(parent_table.c[pk[0]].in_(parents))


def count_children(
    connection: sa.Connection, links: list[ChildLink], parents: sa.Select[Any]
) -> dict[str, int]:
    """How many child rows deleting ``parents`` would delete or detach, per table."""
    counts: dict[str, int] = {}
    for link in links:
        values = _parent_values(link, parents)
        n = connection.execute(
            sa.select(sa.func.count()).select_from(link.table).where(link.fk_column.in_(values))
        ).scalar_one()
        counts[link.label] = counts.get(link.label, 0) + int(n)
        if link.children:
            for label, m in count_children(connection, link.children, _child_keys(link, values)).items():
                counts[label] = counts.get(label, 0) + m
    return counts


def delete_children(
    connection: sa.Connection, links: list[ChildLink], parents: sa.Select[Any]
) -> dict[str, int]:
    """Delete or detach the children of ``parents`` (deepest first); return counts per table.

    The parent keys are read first and bound as values: MariaDB plans a single-table UPDATE or DELETE
    whose ``IN`` holds a subquery as a scan of the whole child table, once per batch.
    """
    counts: dict[str, int] = {}
    for link in links:
        keys = [row[0] for row in connection.execute(_parent_values(link, parents))]
        n = 0
        for chunk in _chunks(keys):
            if link.detach:
                n += connection.execute(
                    sa.update(link.table).where(link.fk_column.in_(chunk)).values({link.fk_column.name: None})
                ).rowcount
                continue
            if link.children:
                below = sa.select(*link.table.primary_key.columns).where(link.fk_column.in_(chunk))
                for label, m in delete_children(connection, link.children, below).items():
                    counts[label] = counts.get(label, 0) + m
            n += connection.execute(sa.delete(link.table).where(link.fk_column.in_(chunk))).rowcount
        counts[link.label] = counts.get(link.label, 0) + int(n)
    return counts


def _chunks(keys: list[Any], size: int = 10_000) -> list[list[Any]]:
    """Keys in lists short enough for every driver's limit on bound parameters."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def delete_children_of(
    connection: sa.Connection, links: list[ChildLink], parent: sa.Table, where: sa.ColumnElement[bool]
) -> dict[str, int]:
    """Delete or detach the children of the rows of ``parent`` that ``where`` selects, in SQL (deepest first).

    The children's statements select their parents themselves, so no key is read into Python: ``IN (SELECT
    ... FOR UPDATE)`` on PostgreSQL (the parents stay locked until their own DELETE), ``IN (SELECT ...)`` on
    SQLite (one writer), a multi-table ``DELETE``/``UPDATE`` joined to the parent on MariaDB (whose
    single-table form scans the child table for an ``IN`` subquery). ``where`` must not read a child table:
    deleting children would change it (callers bind keys then, ``delete_children``). Links with children of
    their own, and a table's references to itself, go through ``delete_children`` with the parents as a subquery.
    """
    dialect = connection.dialect.name
    counts: dict[str, int] = {}
    for link in links:
        column = parent.c[link.parent_column]
        if link.children or link.table is parent:  # grandchildren, or a table that points at itself
            below = delete_children(connection, [link], sa.select(*parent.primary_key.columns).where(where))
            for label, m in below.items():
                counts[label] = counts.get(label, 0) + m
            continue
        if dialect in ("mysql", "mariadb"):
            joined = (link.fk_column == column, where)
            statement: sa.Delete | sa.Update = (
                sa.update(link.table).where(*joined).values({link.fk_column.name: None})
                if link.detach
                else sa.delete(link.table).where(*joined)
            )
        else:
            parents = sa.select(column).where(where)
            if dialect != "sqlite":
                parents = parents.with_for_update()
            inside = link.fk_column.in_(parents)
            statement = (
                sa.update(link.table).where(inside).values({link.fk_column.name: None})
                if link.detach
                else sa.delete(link.table).where(inside)
            )
        counts[link.label] = counts.get(link.label, 0) + int(connection.execute(statement).rowcount)
    return counts
