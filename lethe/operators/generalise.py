"""``generalise``: dates to year/month, numbers to buckets, text to a prefix."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.operators.base import ColumnShape, Operator, TypeKind


class GeneraliseOptions(BaseModel):
    """Exactly one of ``to`` (dates), ``bucket`` (numbers) or ``keep`` (text prefix)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    to: Literal["year", "month"] | None = None
    bucket: float | None = Field(default=None, gt=0)
    keep: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> GeneraliseOptions:
        given = [name for name in ("to", "bucket", "keep") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("generalise takes exactly one of `to: year|month`, `bucket: N` or `keep: N`")
        return self


class GeneraliseOperator(Operator):
    """Coarsen a value: a date to the first day of its year or month, a number down to a bucket."""

    name = "generalise"
    options_model = GeneraliseOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"date", "datetime", "integer", "numeric", "text"})
    recognisable = True  # idempotent: a generalised value equals its own generalisation

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The option given must suit the column's type."""
        assert isinstance(options, GeneraliseOptions)
        wanted: dict[str, set[str]] = {
            "to": {"date", "datetime"},
            "bucket": {"integer", "numeric"},
            "keep": {"text"},
        }
        option = next(name for name in ("to", "bucket", "keep") if getattr(options, name) is not None)
        if column.kind not in wanted[option]:
            return f"generalise `{option}` applies to {'/'.join(sorted(wanted[option]))} columns, not {column.kind}"
        return None
