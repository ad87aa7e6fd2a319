"""The values of a retention rule's ``where:`` conditions, read as the live column's type reads them.

Validation (``lethe.validation.policy``) and the SQL of a rule (``lethe.retention.sql``) use the same reading, so a
value that passes ``lethe validate`` is exactly the value bound in the statement, and a value that does not
fit its column (``closed_at: not-a-date``) is a policy problem reported before anything touches data,
instead of a driver error halfway through a run. Messages quote at most a short prefix of a value.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lethe.operators import TypeKind
from lethe.policy.retention import Condition, ConditionValue

_EXPECTED: dict[str, str] = {
    "boolean": "true or false",
    "integer": "an integer",
    "numeric": "a number",
    "text": "text (quote it in the YAML)",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date or timestamp (ISO 8601, e.g. 2026-01-31 or 2026-01-31T09:00:00)",
}
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


def condition_values(spec: Condition) -> list[tuple[str, ConditionValue]]:
    """Every value a condition compares with, named by its key (``equals``, ``in[2]``)."""
    named: list[tuple[str, ConditionValue]] = []
    for key, value in (("equals", spec.equals), ("not_equals", spec.not_equals)):
        if value is not None:
            named.append((key, value))
    for key, values in (("in", spec.in_), ("not_in", spec.not_in)):
        named += [(f"{key}[{i}]", v) for i, v in enumerate(values or [])]
    return named


def expected(kind: TypeKind) -> str:
    """What a value of a column of ``kind`` must look like, for messages."""
    return _EXPECTED.get(kind, kind)


def where_value(kind: TypeKind, value: ConditionValue, timezone: str) -> Any:
    """``value`` as a column of ``kind`` compares it; ValueError when it cannot be one.

    Dates become ``date``; timestamps become timezone-aware datetimes (a value without a zone is wall-clock
    time in the store's ``timezone``). Binary and unknown kinds pass unchanged: the database decides.
    """
    converted = _convert(kind, value, timezone)
    if converted is None:
        raise ValueError(f"{shown(value)} is not {expected(kind)}")
    return converted


def where_param(column: sa.Column[Any], kind: TypeKind, value: Any, dialect: str, timezone: str) -> Any:
    """A value of ``where_value`` bound for ``column``: timestamps in the store's wall-clock time."""
    if kind == "datetime" and isinstance(value, datetime):
        aware = dialect == "postgresql" and bool(getattr(column.type, "timezone", False))
        value = value if aware else value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return sa.literal(value, column.type)


def shown(value: object, limit: int = 24) -> str:
    """A value for a message: its type, and a short prefix when it is text."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[: limit - 3] + "...")
    return f"{type(value).__name__} {value!s:.{limit}}"


def _convert(kind: TypeKind, value: ConditionValue, timezone: str) -> Any:
    """The converted value, or None when it does not fit ``kind``."""
    if kind == "boolean":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        return None
    if isinstance(value, bool):
        return None  # YAML reads yes/no/on/off as booleans: quote them to mean text
    if kind == "integer":
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, str) and _INTEGER.match(value.strip()) else None
    if kind == "numeric":
        number = _number(value)
        return number if number is not None and math.isfinite(number) else None
    if kind == "text":
        return value if isinstance(value, str) else str(value) if isinstance(value, int | float) else None
    if kind in ("date", "datetime"):
        return _moment(kind, value, timezone)
    return value


def _number(value: ConditionValue) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _moment(kind: TypeKind, value: ConditionValue, timezone: str) -> date | datetime | None:
    """A ``date`` for a date column, an aware ``datetime`` for a timestamp column; None when unreadable."""
    moment: date | datetime
    if isinstance(value, date):
        moment = value
    elif isinstance(value, str):
        try:
            moment = date.fromisoformat(value) if kind == "date" else datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if not 1000 <= moment.year <= 9998:  # MariaDB's DATETIME range, with room for any zone
        return None
    if kind == "date":
        return None if isinstance(moment, datetime) else moment
    at = moment if isinstance(moment, datetime) else datetime.combine(moment, time())
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(timezone))
