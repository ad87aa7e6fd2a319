"""``fake``: a realistic replacement chosen deterministically from the keyed token of the value."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from lethe.operators.base import ColumnShape, Operator, TypeKind

FAKE_LENGTHS = {"name": 60, "first_name": 30, "last_name": 30, "email": 80, "phone": 24, "street": 80, "city": 40}


class FakeOptions(BaseModel):
    """What kind of value to invent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["name", "first_name", "last_name", "email", "phone", "street", "city"]


class FakeOperator(Operator):
    """Replace with a plausible value; the same input and key always give the same replacement."""

    name = "fake"
    options_model = FakeOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The longest value of the kind must fit (it is truncated to that bound)."""
        assert isinstance(options, FakeOptions)
        problem = super().check(options, column)
        needed = FAKE_LENGTHS[options.kind]
        if problem is None and not cls.fits(column.length, min(needed, 20)):
            problem = f"fake {options.kind} needs at least 20 characters, the column holds {column.length}"
        return problem
