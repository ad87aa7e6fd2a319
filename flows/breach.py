"""The 72-hour breach clock (Art. 33(1)): events at 24, 48 and 72 hours after becoming aware.

Start it when a breach is opened (``lethe breach open`` prints the breach id and time of awareness). It
sleeps until each milestone the core computes (``lethe.breach.clock``) and emits ``lethe.breach.clock.24h``,
``.48h`` and ``.72h``; a milestone already past is emitted at once. docs/breach.md shows an automation that
turns the events into notifications.
"""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow

from lethe.breach.clock import deadline, milestones
from tasks.breach import emit_clock_event_task

MAX_SLEEP_S = 600.0  # sleep in slices, so a cancelled run stops within minutes


@flow(name="breach-clock", persist_result=False, log_prints=False)
def breach_clock_flow(breach_id: str, aware_at: datetime, wait: bool = True) -> dict[str, Any]:
    """Emit the breach's reminder events as their times come.

    Args:
        breach_id: The id `lethe breach open` printed (BR-...).
        aware_at: When the controller (or processor) became aware of the breach, with a time zone.
        wait: Wait for milestones still to come; false emits only those already due.
    """
    if aware_at.tzinfo is None:
        raise ValueError("aware_at needs a time zone")
    due_by = deadline(aware_at).isoformat()
    emitted: list[str] = []
    for milestone in milestones(aware_at):
        while wait and not milestone.reached(datetime.now(UTC)):
            time.sleep(min(MAX_SLEEP_S, (milestone.due - datetime.now(UTC)).total_seconds() + 0.01))
        if not milestone.reached(datetime.now(UTC)):
            break
        emit_clock_event_task(milestone.event, breach_id, milestone.due.isoformat(), due_by)
        emitted.append(milestone.event)
    return {"breach": breach_id, "deadline": due_by, "emitted": emitted}


if __name__ == "__main__":
    breach_clock_flow(breach_id="BR-demo", aware_at=datetime.now(UTC), wait=False)
