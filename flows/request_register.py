"""The request register in the UI: a daily table artifact and deadline events; Art. 12(3) extensions."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Any

from prefect import flow

from tasks.forms import RequestRef
from tasks.register import extend_request_task, publish_register_task
from tasks.requests import publish_outcome_task


@flow(name="request-register", persist_result=False, log_prints=False)
def request_register_flow(due_soon_days: int = 7) -> dict[str, int]:
    """Publish the open requests (artifact `request-register`: overdue, due soon, open; references only) and
    emit `lethe.request.overdue` and `lethe.request.due-soon` for each request concerned (docs/flows.md).

    Args:
        due_soon_days: A request due within this many days counts as due soon.
    """
    return publish_register_task(due_soon_days)


@flow(name="request-extension", persist_result=False, log_prints=False)
def request_extension_flow(request_id: RequestRef, reason: str) -> Any:
    """Extend an open request's deadline by two further months (Art. 12(3)), recorded in the ledger.

    The subject must be told of the extension and its reasons within one month of receipt: the outcome
    artifact gives that date.

    Args:
        request_id: The request's reference, as the register artifact and `lethe requests` list it.
        reason: Why more time is needed (complexity, number of requests); told to the subject. No personal data.
    """
    outcome = extend_request_task(request_id.strip(), reason)
    publish_outcome_task("extension", outcome)
    return outcome
