"""Types of the flows' parameters as the Prefect UI renders them: plain fields, no "str | None" pickers.

Prefect builds a deployment's Custom-run form from the flow's JSON schema. An optional value (``X | None``)
becomes a type picker whose second choice reads 'Property is type "None"', and a nullable date-time field
is refused by the form when left empty. So optional values are plain strings with an empty default, and
instants are strings (or datetimes from Python callers) parsed here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import Field, WithJsonSchema

from lethe.errors import ParameterError

# How every request form asks for the subject: the key or a lookup value; blank when the run continues a
# registered request by its reference (request_id).
SubjectId = Annotated[str, Field(max_length=320)]
# A request's reference: the register's id (a UUID), or blank.
RequestRef = Annotated[str, Field(max_length=36, pattern=r"^([0-9a-fA-F-]{36})?$")]
# An optional instant: a datetime from Python, an ISO 8601 text from the form ("2026-11-30", or with a time
# and a zone, "2026-11-30T09:00:00+01:00"); empty means now.
Instant = Annotated[datetime | str, WithJsonSchema({"type": "string", "maxLength": 40})]


def parse_instant(value: datetime | str | None, name: str) -> datetime | None:
    """``value`` as an aware datetime, None when empty; a date alone is midnight UTC.

    Raises ParameterError for text that is no ISO 8601 date or date-time, or a time without a zone.
    """
    if isinstance(value, datetime):
        moment = value
    elif value is None or not value.strip():
        return None
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ParameterError(
                f"{name} is not an ISO 8601 date or date-time (e.g. 2026-11-30 or 2026-11-30T09:00:00+01:00)"
            ) from None
    if moment.tzinfo is None:
        raise ParameterError(f"{name} needs a time zone, e.g. 2026-11-30T09:00:00+01:00 or ...Z")
    return moment
