"""Retention periods: parse ``3y``, ``18 months``, ``90 days``, ``P1Y6M`` and compute cut-offs.

Calendar arithmetic is done on the calendar, not in seconds: "1 year" before 2024-02-29 is 2023-02-28
(the day is clamped to the month's length), "1 month" before 2026-03-31 is 2026-02-28. Durations in days,
hours or weeks are exact. A record is expired when its anchor is strictly before the cut-off, so a record
exactly at the cut-off is kept for one more run (the conservative side for deletion).

Both ends are bounded so every cut-off can be computed: a period is at most ``MAX_PERIOD_YEARS`` long, and
an instant (``as_of``, a request's received time, ``--now``) lies between ``EARLIEST`` and ``LATEST``; the
calendar of Python's ``datetime`` (years 1 to 9999) holds every cut-off and due date in between.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lethe.errors import ParameterError

MAX_PERIOD_YEARS = 200
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# How far past this machine's clock an instant may be and still count as "now" (another host's clock).
CLOCK_SKEW = timedelta(minutes=5)

_UNITS = {
    "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years",
    "mo": "months", "month": "months", "months": "months",
    "w": "weeks", "wk": "weeks", "week": "weeks", "weeks": "weeks",
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hour": "hours", "hours": "hours",
}  # fmt: skip
_SIMPLE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?)?$"
)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar period: years and months on the calendar, the rest exact."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __str__(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.days, "day"), (self.hours, "hour")]
        text = ", ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
        return text or "0 days"

    def iso(self) -> str:
        """ISO 8601 form, e.g. ``P3Y`` or ``P1Y6M``."""
        date_part = "".join(
            f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n
        )
        time_part = f"T{self.hours}H" if self.hours else ""
        return f"P{date_part}{time_part}" if date_part or time_part else "P0D"

    @property
    def approximate_years(self) -> float:
        """The length in (average) years, to bound periods; cut-offs are computed on the calendar."""
        return self.years + self.months / 12 + (self.days + self.hours / 24) / 365.25

    def cutoff(self, as_of: datetime) -> datetime:
        """The instant before which a record is expired, for a timezone-aware ``as_of``."""
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        total_months = as_of.year * 12 + (as_of.month - 1) - (self.years * 12 + self.months)
        year, month = divmod(total_months, 12)
        month += 1
        day = min(as_of.day, calendar.monthrange(year, month)[1])
        shifted = as_of.replace(year=year, month=month, day=day)
        return shifted - timedelta(days=self.days, hours=self.hours)


def parse_period(text: str | int) -> Period:
    """Parse a period; raise ValueError with the accepted forms when ``text`` is not one."""
    if isinstance(text, int) or not isinstance(text, str):
        raise ValueError(
            f"a period needs a unit, e.g. '3 years', '18 months', '90 days' or 'P3Y' (got {text!r})"
        )
    if re.search(r"\d{10,}", text):  # a billion of any unit is far beyond the bound: spare int() the digits
        raise ValueError(
            f"period {_brief(text)} is longer than {MAX_PERIOD_YEARS} years, the longest accepted"
        )
    iso = _ISO.match(text.strip().upper())
    if iso:
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        weeks = parts.pop("weeks", 0)
        period = Period(**parts)
        period = Period(period.years, period.months, period.days + 7 * weeks, period.hours)
    else:
        simple = _SIMPLE.match(text.lower())
        unit = _UNITS.get(simple.group(2)) if simple else None
        if simple is None or unit is None:
            raise ValueError(
                f"cannot read period {_brief(text)}: use e.g. '3y', '3 years', '18 months', '6 weeks', '90 days', "
                "'48 hours' or ISO 8601 'P3Y', 'P1Y6M', 'P90D'"
            )
        n = int(simple.group(1))
        period = Period(days=7 * n) if unit == "weeks" else Period(**{unit: n})
    if period == Period():
        raise ValueError(f"period {_brief(text)} is zero: a retention period must be positive")
    if period.approximate_years > MAX_PERIOD_YEARS:
        raise ValueError(
            f"period {_brief(text)} is longer than {MAX_PERIOD_YEARS} years, the longest accepted"
        )
    return period


def check_instant(
    moment: datetime,
    name: str,
    *,
    allow_future: bool,
    future_flag: str | None = None,
    now: datetime | None = None,
) -> datetime:
    """Return ``moment`` when it is timezone-aware and in range; raise ParameterError naming ``name`` otherwise.

    An instant later than now (beyond ``CLOCK_SKEW``) is refused unless ``allow_future``: judging expiry at a
    future instant expires rows that are still within their period. ``future_flag`` names the switch that
    allows it, for the message.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError(f"{name} needs a time zone, e.g. 2026-11-25T02:00:00+01:00 or ...Z")
    if not EARLIEST <= moment < LATEST:
        raise ParameterError(
            f"{name} {moment.date().isoformat()} is out of range: instants from {EARLIEST.date()} to before "
            f"{LATEST.date()} are accepted"
        )
    current = now or datetime.now(UTC)
    if not allow_future and moment > current + CLOCK_SKEW:
        allow = f"; pass {future_flag} to judge at a later instant on purpose" if future_flag else ""
        raise ParameterError(
            f"{name} {moment.isoformat(timespec='seconds')} is in the future (now is "
            f"{current.astimezone(UTC).isoformat(timespec='seconds')}){allow}"
        )
    return moment


def _brief(text: str, limit: int = 24) -> str:
    """``text`` quoted, cut to ``limit`` characters: enough to find it, never a whole pasted document."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
