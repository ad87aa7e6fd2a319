"""``redact``: replace the value with a constant string."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from lethe.operators.base import ColumnShape, Expression, Operator, OperatorContext, TypeKind, or_null


class RedactOptions(BaseModel):
    """Options of ``redact``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str = "[redacted]"


class RedactOperator(Operator):
    """Overwrite with a fixed text such as ``[redacted]``."""

    name = "redact"
    options_model = RedactOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
    recognisable = True

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The constant must fit the column."""
        assert isinstance(options, RedactOptions)
        problem = super().check(options, column)
        if problem is None and not cls.fits(column.length, len(options.value)):
            problem = f"redact value has {len(options.value)} characters, the column holds {column.length}"
        return problem

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The constant, as a bound parameter; NULL stays NULL (there was nothing to redact)."""
        assert isinstance(options, RedactOptions)
        return sa.case((value.is_(None), sa.null()), else_=sa.literal(options.value, sa.String))

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """The constant; None stays None."""
        assert isinstance(options, RedactOptions)
        return None if value is None else options.value

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """The value is NULL or the constant (in any letter case on a case-insensitive MariaDB collation)."""
        assert isinstance(options, RedactOptions)
        return or_null(value, value == sa.literal(options.value, sa.String), ctx)
