"""``redact``: replace the value with a constant string."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from lethe.operators.base import ColumnShape, Operator, TypeKind


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
