"""What every anonymisation operator is: a name, an options model, the column types it can write.

An operator is one small class in its own file, registered by hand in ``OPERATORS``
(``lethe/operators/__init__.py``): no import side effects, so the registry is exactly what you read.
``check`` runs before any change, when the policy is validated against the live schema; the SQL and Python
implementations that rewrite values live in the same class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

TypeKind = Literal["text", "integer", "numeric", "date", "datetime", "boolean", "binary", "other"]


class NoOptions(BaseModel):
    """Options of an operator that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ColumnShape:
    """What validation knows of a target column: coarse type, maximum length, nullability."""

    kind: TypeKind
    length: int | None
    nullable: bool


class Operator:
    """Base of anonymisation operators; subclasses set the class variables and override ``check``."""

    name: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = NoOptions
    writes: ClassVar[frozenset[TypeKind]]
    # True when the operator's output can be recognised in SQL, so a rule can tell rows it already
    # handled from rows it has not (what makes re-runs idempotent without a marker column).
    recognisable: ClassVar[bool] = False

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """Return why this operator cannot write ``column``, or None when it can."""
        if column.kind not in cls.writes:
            kinds = ", ".join(sorted(cls.writes))
            return f"operator {cls.name!r} writes {kinds} columns, not {column.kind}"
        return None

    @staticmethod
    def fits(length: int | None, needed: int) -> bool:
        """True when a string column of ``length`` (None = unbounded) holds ``needed`` characters."""
        return length is None or length >= needed
