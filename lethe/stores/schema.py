"""What a store's schema holds, as Lethe reads it: tables, columns with their coarse kind, primary and foreign keys.

``reflect_schema`` reads one schema in three catalog queries (columns, primary keys, foreign keys of every
table at once); the result is plain data, so validation, retention and requests ask it without touching the
database again. Errors suggest close names (``did you mean 'email'?``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import SchemaMismatchError, StoreError
from lethe.operators.base import ColumnShape, TypeKind
from lethe.policy.urls import safe_url

_TYPE_KINDS: tuple[tuple[type[Any], TypeKind], ...] = (
    (sa.Boolean, "boolean"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Integer, "integer"),
    (sa.Numeric, "numeric"),  # Float is a Numeric
    (sa.String, "text"),  # Text, Unicode, VARCHAR, NVARCHAR, CHAR
    (sa.LargeBinary, "binary"),
    (sa.Enum, "text"),
)


def type_kind(sql_type: sa.types.TypeEngine[Any]) -> TypeKind:
    """The coarse kind of a reflected type."""
    # MySQL's TINYINT(1) is how MariaDB spells BOOLEAN.
    if sql_type.__class__.__name__ == "TINYINT" and getattr(sql_type, "display_width", None) == 1:
        return "boolean"
    for base, kind in _TYPE_KINDS:
        if isinstance(sql_type, base):
            return kind
    return "other"


@dataclass(frozen=True)
class ColumnInfo:
    """A reflected column."""

    name: str
    kind: TypeKind
    sql_type: str
    length: int | None
    nullable: bool
    # The reflected SQLAlchemy type, so typed tables are built without reflecting again (see Stores.sa_table).
    type: sa.types.TypeEngine[Any] = field(default_factory=sa.types.NullType, compare=False, repr=False)

    @property
    def shape(self) -> ColumnShape:
        """What operators need to know to tell whether they can write it."""
        return ColumnShape(kind=self.kind, length=self.length, nullable=self.nullable)


@dataclass(frozen=True)
class ForeignKey:
    """A reflected foreign key from ``columns`` of the owning table to ``ref_table.ref_columns``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    """A reflected table."""

    name: str
    columns: dict[str, ColumnInfo]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> ColumnInfo:
        """The column ``name``, or an error suggesting close names."""
        try:
            return self.columns[name]
        except KeyError:
            raise SchemaMismatchError(
                f"table {self.name} has no column {name!r}{did_you_mean(name, self.columns)}"
            ) from None


@dataclass(frozen=True)
class SchemaInfo:
    """The reflected tables of one store (one schema)."""

    tables: dict[str, TableInfo] = field(default_factory=dict)

    def table(self, name: str) -> TableInfo:
        """The table ``name``, or an error suggesting close names."""
        try:
            return self.tables[name]
        except KeyError:
            raise SchemaMismatchError(f"no table {name!r}{did_you_mean(name, self.tables)}") from None

    def children_of(self, parent: str) -> Iterator[tuple[TableInfo, ForeignKey]]:
        """Tables with a foreign key to ``parent``, and that key."""
        for table in self.tables.values():
            for fk in table.foreign_keys:
                if fk.ref_table == parent:
                    yield table, fk


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the candidates close to ``name``, or an empty string."""
    names = list(candidates)
    folded = [c for c in names if c.lower() == name.lower()]
    close = folded or difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def split_name(table: str) -> tuple[str | None, str]:
    """``schema.table`` as (schema or None, table)."""
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def reflect_schema(engine: Engine, schema: str | None = None) -> SchemaInfo:
    """Reflect tables, columns, primary and foreign keys of one schema (default: the connection's)."""
    try:
        inspector = sa.inspect(engine)
        names = inspector.get_table_names(schema=schema)
        if not names:
            return SchemaInfo()
        columns = inspector.get_multi_columns(schema=schema)
        pks = inspector.get_multi_pk_constraint(schema=schema)
        fks = inspector.get_multi_foreign_keys(schema=schema)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the schema of {safe_url(engine.url)} ({exc.__class__.__name__})"
        ) from exc
    tables: dict[str, TableInfo] = {}
    for key, cols in columns.items():
        name = key[1]
        infos = {
            c["name"]: ColumnInfo(
                name=c["name"],
                kind=type_kind(c["type"]),
                sql_type=str(c["type"]) if not isinstance(c["type"], sa.types.NullType) else "NULL",
                length=getattr(c["type"], "length", None) if type_kind(c["type"]) == "text" else None,
                nullable=bool(c["nullable"]),
                type=c["type"],
            )
            for c in cols
        }
        pk_constraint: dict[str, Any] = dict(pks.get(key) or {})
        pk = tuple(pk_constraint.get("constrained_columns") or ())
        foreign = tuple(
            ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in fks.get(key, [])
        )
        tables[name] = TableInfo(name=name, columns=infos, primary_key=pk, foreign_keys=foreign)
    return SchemaInfo(tables=dict(sorted(tables.items())))
