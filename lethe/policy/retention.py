"""The ``retention:`` block: rules that delete or anonymise rows some time after an anchor."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from lethe.errors import OperatorError
from lethe.operators import get_operator
from lethe.policy.base import Identifier, Model, Name, PeriodField, TableRefField


class LatestOf(Model):
    """An anchor that is the latest of several timestamps: own columns or ``table.column`` of related rows."""

    latest_of: list[str] = Field(min_length=1)

    @field_validator("latest_of")
    @classmethod
    def _refs(cls, refs: list[str]) -> list[str]:
        for ref in refs:
            if not re.match(r"^([A-Za-z_][\w$]*\.)?[A-Za-z_][\w$]*$", ref):
                raise ValueError(f"anchor {ref!r} must be 'column' or 'related_table.column'")
        return refs


# YAML reads an unquoted 2026-01-31 as a date: a condition takes it as such.
ConditionValue = str | int | float | bool | datetime | date
# A rule that would change more than this share of its table refuses without an explicit flag (a wrong period,
# anchor or --as-of otherwise empties a table); the policy can set its own per rule (`max_share: 90%`).
DEFAULT_MAX_SHARE = 0.5
# Most partitions a rule may be split into (each holds a connection and a lock while it runs).
MAX_PARTITIONS = 64


def parse_share(value: Any) -> float:
    """A share of a table: a fraction in (0, 1] (``0.5``) or a percentage (``50%``); ValueError otherwise."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if isinstance(text, str) and text.endswith("%"):
            share = float(text[:-1]) / 100
        elif isinstance(text, int | float | str) and not isinstance(text, bool):
            share = float(text)
        else:
            raise ValueError
    except ValueError:
        raise ValueError("a share is a fraction such as 0.5 or a percentage such as 50%") from None
    if not 0 < share <= 1:
        raise ValueError("a share must be more than 0 and at most 1 (100%)")
    return share


ShareField = Annotated[float, BeforeValidator(parse_share)]


class Condition(Model):
    """One test on a column; the keys combine with AND."""

    equals: ConditionValue | None = None
    not_equals: ConditionValue | None = None
    in_: list[ConditionValue] | None = Field(default=None, alias="in")
    not_in: list[ConditionValue] | None = None
    is_null: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `status: closed` is short for `status: {equals: closed}`.
        if isinstance(value, str | int | float | bool | date):
            return {"equals": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs one of equals, not_equals, in, not_in, is_null")
        return self


class ColumnAction(BaseModel):
    """``{operator: NAME, ...options}``: how an anonymise rule rewrites one column."""

    model_config = ConfigDict(extra="allow", frozen=True)
    operator: str
    _options: BaseModel = PrivateAttr()

    @model_validator(mode="after")
    def _resolve(self) -> ColumnAction:
        try:
            op = get_operator(self.operator)
        except OperatorError as exc:
            raise ValueError(str(exc)) from None
        try:
            self._options = op.options_model.model_validate(self.model_extra or {})
        except ValueError as exc:
            problems = "; ".join(_brief(e) for e in getattr(exc, "errors", lambda: [])()) or str(exc)
            raise ValueError(f"options of operator {self.operator!r}: {problems}") from None
        return self

    @property
    def options(self) -> BaseModel:
        """The operator's validated options."""
        return self._options


def _brief(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class RetentionRule(Model):
    """Delete or anonymise a table's rows some time after an anchor timestamp."""

    name: Name
    table: TableRefField
    after: PeriodField
    since: Identifier | LatestOf
    where: dict[Identifier, Condition] = Field(default_factory=dict)
    unless: list[Identifier] = Field(default_factory=list)  # exemptions: boolean columns such as legal_hold
    action: Literal["delete", "anonymise"]
    columns: dict[Identifier, ColumnAction] = Field(default_factory=dict)
    mark: Identifier | None = None  # column set to the run's time when a row is anonymised
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000)  # fixed span, rows of the key index
    batch_seconds: float | None = Field(default=None, gt=0, le=60)  # adaptive span's target time per batch
    max_share: ShareField | None = None  # default DEFAULT_MAX_SHARE
    # Primary-key-range partitions enforced concurrently (``lethe.retention.partitions``); default one.
    partitions: int | None = Field(default=None, ge=1, le=MAX_PARTITIONS)
    # Processor mode: periods per controller (names of processor.controllers) replacing `after:` for their
    # rows, and/or the periods and end dates of the contracts table (the policy's own overrides win).
    per_controller: dict[Name, PeriodField] = Field(default_factory=dict)
    contract_periods: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _action_fits(self) -> RetentionRule:
        if self.action == "anonymise" and not self.columns:
            raise ValueError("an anonymise rule needs `columns:` with an operator per column")
        if self.action == "delete" and self.columns:
            raise ValueError("a delete rule takes no `columns:` (it removes whole rows)")
        if self.action == "delete" and self.mark:
            raise ValueError("a delete rule takes no `mark:`")
        if self.action == "anonymise" and self.mark is None:
            unrecognisable = sorted(
                name for name, c in self.columns.items() if not get_operator(c.operator).recognisable
            )
            if unrecognisable:
                # Without a marker a re-run could not tell these columns were done: it would apply the
                # operator again (noise twice) or skip it when the other columns look done.
                raise ValueError(
                    f"the operators of {', '.join(unrecognisable)} leave no recognisable value (only null, "
                    "redact, hmac, generalise and encrypt do): add `mark: <timestamp column>` set when a "
                    "row is anonymised"
                )
        return self

    @property
    def anchor_columns(self) -> list[str]:
        """The anchor as a list of references (``column`` or ``table.column``)."""
        return [self.since] if isinstance(self.since, str) else list(self.since.latest_of)
