"""Prefect tasks of the breach clock: emit one reminder event. Names, ids and instants only."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event


@task(name="emit-breach-clock-event", cache_policy=NO_CACHE, persist_result=False)
def emit_clock_event_task(event: str, breach_id: str, due: str, deadline: str) -> bool:
    """Emit ``lethe.breach.clock.<n>h`` about the breach; True when an events client took it."""
    sent = emit_event(
        event=event,
        resource={"prefect.resource.id": f"lethe.breach.{breach_id}", "prefect.resource.name": breach_id},
        payload={"breach": breach_id, "due": due, "deadline": deadline},
    )
    return sent is not None
