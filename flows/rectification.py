"""Rectification (GDPR Art. 16): correct declared columns of one subject; the ledger records names only."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import datetime
from typing import Annotated, Any

from prefect import flow
from pydantic import BaseModel, Field

from tasks.requests import SubjectId, publish_outcome_task, rectify_task
from tasks.shared import CLOSE_SHARED


class ColumnChange(BaseModel):
    """One corrected value."""

    column: Annotated[
        str, Field(min_length=1, max_length=128, description="A column the policy allows to rectify")
    ]
    value: Annotated[str | None, Field(max_length=2000, description="The correct value; empty clears it")] = (
        None
    )


@flow(name="subject-rectification", persist_result=False, log_prints=False, **CLOSE_SHARED)
def rectification_flow(
    subject_id: SubjectId,
    changes: Annotated[list[ColumnChange], Field(min_length=1)],
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    received: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Correct one data subject's data in the columns the policy's `rectification:` allows.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email).
        changes: The columns to correct and their correct values.
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (an id `lethe requests` lists); empty means the
            subject's open request of this type, or a new one.
    """
    if not subject_id.strip():
        raise ValueError("subject_id must not be blank")
    columns = [change.column for change in changes]
    if len(set(columns)) != len(columns):
        raise ValueError("each column may appear once in changes")
    values = {change.column: change.value for change in changes}
    request = (request_id or "").strip() or None
    outcome = rectify_task(policy, subject_type, subject_id.strip(), values, received, request)
    publish_outcome_task("rectification", outcome)
    return outcome
