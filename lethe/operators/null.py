"""``null``: replace the value with SQL NULL."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from lethe.operators.base import ColumnShape, Operator, TypeKind


class NullOperator(Operator):
    """Set the column to NULL; the column must be nullable."""

    name = "null"
    writes: ClassVar[frozenset[TypeKind]] = frozenset(
        {"text", "integer", "numeric", "date", "datetime", "boolean", "binary", "other"}
    )
    recognisable = True

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The column must accept NULL."""
        return None if column.nullable else "operator 'null' needs a nullable column (it is NOT NULL)"
