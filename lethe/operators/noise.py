"""``noise``: a bounded offset seeded by key and primary key, so re-runs give the same value."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.operators.base import ColumnShape, Operator, TypeKind


class NoiseOptions(BaseModel):
    """``amount`` for numbers (absolute bound), ``days`` for dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: float | None = Field(default=None, gt=0)
    days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> NoiseOptions:
        if (self.amount is None) == (self.days is None):
            raise ValueError("noise takes exactly one of `amount: N` (numbers) or `days: N` (dates)")
        return self


class NoiseOperator(Operator):
    """Add a deterministic offset in [-bound, +bound]; not recognisable, so rules need a marker column."""

    name = "noise"
    options_model = NoiseOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"integer", "numeric", "date", "datetime"})

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """``days`` needs a date column, ``amount`` a number column."""
        assert isinstance(options, NoiseOptions)
        if options.days is not None and column.kind not in {"date", "datetime"}:
            return f"noise `days` applies to date columns, not {column.kind}"
        if options.amount is not None and column.kind not in {"integer", "numeric"}:
            return f"noise `amount` applies to number columns, not {column.kind}"
        return None
