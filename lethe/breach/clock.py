"""The Art. 33(1) clock: notify the authority within 72 hours of becoming aware; reminders at 24 and 48.

The core computes when each milestone falls due; ``flows/breach.py`` waits for them and emits the Prefect
events ``lethe.breach.clock.24h``, ``.48h`` and ``.72h`` (docs/breach.md shows an automation on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lethe.errors import ParameterError

MILESTONES: tuple[int, ...] = (24, 48, 72)
EVENT_PREFIX = "lethe.breach.clock."


@dataclass(frozen=True)
class Milestone:
    """One reminder: its event name and when it falls due."""

    hours: int
    event: str
    due: datetime

    def reached(self, now: datetime) -> bool:
        """True once the milestone's time has come."""
        return now >= self.due


def milestones(aware_at: datetime) -> list[Milestone]:
    """The reminders of a breach the controller (or processor) became aware of at ``aware_at``."""
    if aware_at.utcoffset() is None:
        raise ParameterError("the time of awareness needs a time zone")
    return [Milestone(h, f"{EVENT_PREFIX}{h}h", aware_at + timedelta(hours=h)) for h in MILESTONES]


def deadline(aware_at: datetime) -> datetime:
    """When the notification to the supervisory authority is due (Art. 33(1))."""
    return milestones(aware_at)[-1].due
