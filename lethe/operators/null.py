"""``null``: replace the value with SQL NULL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel

from lethe.operators.base import ColumnShape, Expression, Operator, OperatorContext, TypeKind


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

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """SQL NULL."""
        return sa.null()

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """None."""
        return None

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """The value is NULL."""
        return value.is_(None)
