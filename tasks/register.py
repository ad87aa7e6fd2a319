"""Prefect tasks of the request register: publish it for the UI, emit deadline events, extend a request.

Requests appear by reference, type, subject kind and dates only: the register holds no identifier.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from lethe.ledger.chain import Ledger
from lethe.requests.extension import extend_request
from lethe.requests.register import RequestRecord, list_requests, state_engine
from lethe.settings import load_settings

REGISTER_ARTIFACT = "request-register"
EVENTS = {"overdue": "lethe.request.overdue", "due soon": "lethe.request.due-soon"}


def _row(record: RequestRecord, state: str, now: datetime) -> dict[str, Any]:
    days = (record.due_at - now).total_seconds() / 86400
    return {
        "state": state,
        "reference": record.id,
        "type": record.type,
        "subject": record.subject,
        "received": record.received_at.strftime("%Y-%m-%d"),
        "due": record.due_at.strftime("%Y-%m-%d"),
        "days left": round(days),
        "note": (record.outcome or "")[:120],
    }


@task(name="publish-request-register", cache_policy=NO_CACHE, persist_result=False)
def publish_register_task(due_soon_days: int, now: datetime | None = None) -> dict[str, int]:
    """The open requests as a table artifact (key ``request-register``); one event per request that is
    overdue or due within ``due_soon_days``. Returns the number of requests in each group."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    overview = list_requests(state_engine(load_settings()), moment, due_soon_days)
    groups = {"overdue": overview.overdue, "due soon": overview.due_soon, "open": overview.open}
    rows = [_row(r, state, moment) for state, records in groups.items() for r in records]
    create_table_artifact(
        rows or [{"state": "none", "reference": "no open request"}],
        key=REGISTER_ARTIFACT,
        description=(
            f"Request register at {moment:%Y-%m-%d %H:%M} UTC: {len(overview.overdue)} overdue, "
            f"{len(overview.due_soon)} due within {due_soon_days} days, {len(overview.open)} open"
        ),
    )
    for state, event in EVENTS.items():
        for record in groups[state]:
            emit_event(
                event=event,
                resource={
                    "prefect.resource.id": f"lethe.request.{record.id}",
                    "prefect.resource.name": record.id,
                },
                payload={"request": record.id, "type": record.type, "due": record.due_at.isoformat()},
            )
    counts = {state.replace(" ", "_"): len(records) for state, records in groups.items()}
    get_run_logger().info("request register: %s", counts)
    return counts


@task(name="extend-request", cache_policy=NO_CACHE, persist_result=False)
def extend_request_task(request_id: str, reason: str) -> dict[str, str]:
    """Extend the request by two months (Art. 12(3)); return its dates."""
    from prefect.runtime import flow_run

    settings = load_settings()
    extended = extend_request(
        state_engine(settings), request_id, reason, ledger=Ledger.from_settings(settings),
        run_id=str(flow_run.get_id() or uuid.uuid4()),
    )  # fmt: skip
    return {
        "outcome": "extended",
        "request": extended.request_id,
        "previous due": extended.previous_due.strftime("%Y-%m-%d"),
        "due": extended.due.strftime("%Y-%m-%d"),
        "tell the subject by": extended.tell_by.strftime("%Y-%m-%d"),
    }
