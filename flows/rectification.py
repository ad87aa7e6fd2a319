"""Rectification (GDPR Art. 16): correct declared columns of one subject; the ledger records names only."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Annotated, Any

from prefect import flow
from pydantic import BaseModel, Field

from tasks.forms import Instant, RequestRef, SubjectId, parse_instant
from tasks.recipients import notify_recipients_task
from tasks.requests import (
    begin_request,
    forget_closed_task,
    outcome_state,
    publish_outcome_task,
    rectify_task,
)
from tasks.shared import CLOSE_SHARED


class ColumnChange(BaseModel):
    """One corrected value."""

    column: Annotated[
        str, Field(min_length=1, max_length=128, description="A column the policy allows to rectify")
    ]
    value: Annotated[str, Field(max_length=2000, description="The correct value; empty clears it")] = ""


@flow(name="subject-rectification", persist_result=False, log_prints=False, **CLOSE_SHARED)
def rectification_flow(
    changes: Annotated[list[ColumnChange], Field(min_length=1)],
    subject_id: SubjectId = "",
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    received: Instant = "",
    request_id: RequestRef = "",
) -> Any:
    """Correct one data subject's data in the columns the policy's `rectification:` allows.

    Ends Completed "Rectified" or "Not found" (docs/flows.md). Once the request is registered, the run's
    parameters hold its reference instead of the identifier, and no changes (the correct values are personal
    data too): a retry names the request and gives the changes again.

    Args:
        changes: The columns to correct and their correct values (an empty value clears the column).
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email); empty
            when request_id names the request to continue.
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (its reference, as `lethe requests` lists it); empty
            means the subject's open request of this type, or a new one.
    """
    at = parse_instant(received, "received")
    columns = [change.column for change in changes]
    if len(set(columns)) != len(columns):
        raise ValueError("each column may appear once in changes")
    values = {change.column: (change.value or None) for change in changes}
    # The correct values leave the parameters with the identifier. Not even a placeholder value stays: a
    # retry would write it; with no changes the retry's parameters are refused before anything runs.
    blanks: dict[str, Any] = {"changes": []}
    registered = begin_request(
        "rectification", policy, subject_type, subject_id, "rectification", at, request_id, blanks
    )
    if registered["outcome"] != "registered":
        publish_outcome_task("rectification", registered)
        return outcome_state("rectification", registered)
    reference = registered["request"]
    outcome = rectify_task(policy, subject_type, subject_id, values, at, reference)
    outcome.setdefault("request", reference)
    if told := notify_recipients_task(policy, "rectification", subject_type, outcome):
        outcome["recipients"] = told  # Art. 19: who was told, and how (the ledger has the counts)
    publish_outcome_task("rectification", outcome)
    forget_closed_task(reference)
    return outcome_state("rectification", outcome)
