"""Building blocks of the policy models: the strict base model, identifiers, periods, table references."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from lethe.policy.periods import Period, parse_period

NAME = r"^[A-Za-z][A-Za-z0-9_\-]*$"
IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"


class Model(BaseModel):
    """Base of policy models: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Identifier = Annotated[str, Field(pattern=IDENT, max_length=128)]
Name = Annotated[str, Field(pattern=NAME, max_length=100)]


def _period(value: Any) -> Period:
    if isinstance(value, Period):
        return value
    return parse_period(value)


PeriodField = Annotated[Period, BeforeValidator(_period)]


class TableRef(Model):
    """``store.table``: a table of a store; the table part may itself be ``schema.table``."""

    store: str
    table: str

    def __str__(self) -> str:
        return f"{self.store}.{self.table}"


def _table_ref(value: Any) -> TableRef:
    if isinstance(value, TableRef):
        return value
    if not isinstance(value, str) or value.count(".") not in (1, 2) or "" in value.split("."):
        raise ValueError(f"expected 'store.table' (or 'store.schema.table'), got {value!r}")
    store, table = value.split(".", 1)
    return TableRef(store=store, table=table)


TableRefField = Annotated[TableRef, BeforeValidator(_table_ref)]
