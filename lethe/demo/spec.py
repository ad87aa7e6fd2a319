"""What the demo generates (:class:`DemoSpec`) and the random state every row of one spec is drawn from.

Determinism lives here: Faker is seeded once (``seed_instance``) and always called through an explicit
locale, every other choice comes from one ``random.Random(seed)``, and all dates derive from
``spec.as_of`` (never from the clock). IDs are assigned in order, 1..N per table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from lethe.demo.schema import TABLES

Row = dict[str, Any]
Chunk = dict[str, list[Row]]

LOCALES: tuple[str, ...] = ("en_GB", "de_DE", "fr_FR", "nl_NL")

DAY = 86_400
YEAR = 365 * DAY


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: size, seed and the time span the data covers."""

    customers: int = 5000
    seed: int = 2026
    as_of: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    years: int = 9

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError("DemoSpec.customers must not be negative")
        if self.years < 1:
            raise ValueError("DemoSpec.years must be at least 1")
        if self.as_of.tzinfo is None:
            raise ValueError("DemoSpec.as_of must be timezone-aware")


def _years_before(moment: datetime, years: int) -> datetime:
    """The same calendar moment ``years`` earlier (28 February for a 29 February)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


class Draws:
    """The random state of one spec: one Random, one seeded Faker, the time window and the next ids."""

    def __init__(self, spec: DemoSpec) -> None:
        self.rng = random.Random(spec.seed)
        self.fake = Faker(list(LOCALES))
        self.fake.seed_instance(spec.seed)
        self.end = spec.as_of.astimezone(UTC).replace(microsecond=0)
        self.start = _years_before(self.end, spec.years)
        self.span = int((self.end - self.start).total_seconds())
        self._next_id = dict.fromkeys(TABLES, 1)

    def new_id(self, table: str) -> int:
        """The next primary key of ``table``."""
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def between(self, low: datetime, high: datetime) -> datetime:
        """A moment in [low, high] at second precision (``low`` if the range is empty)."""
        seconds = int((high - low).total_seconds())
        return low + timedelta(seconds=self.rng.randint(0, seconds)) if seconds > 0 else low
