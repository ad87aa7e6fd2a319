"""Restriction (GDPR Art. 18) and objection (Art. 21): stop processing a subject's data, or resume it."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import datetime
from typing import Any, Literal

from prefect import flow

from tasks.requests import SubjectId, publish_outcome_task, restrict_task
from tasks.shared import CLOSE_SHARED

Ground = Literal[
    "accuracy-contested",
    "unlawful-processing",
    "legal-claims",
    "objection-pending",
    "direct-marketing",
    "legitimate-interests",
]


@flow(name="subject-restriction", persist_result=False, log_prints=False, **CLOSE_SHARED)
def restriction_flow(
    subject_id: SubjectId,
    ground: Ground = "accuracy-contested",
    activities: list[str] | None = None,
    objection: bool = False,
    lift: bool = False,
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    received: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Register a restriction or objection for one subject, or lift every one it has.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email).
        ground: Why: Art. 18(1)(a)-(d) for restrictions, Art. 21 for objections.
        activities: Processing activities it applies to (names from the policy); empty means all.
        objection: An objection (Art. 21) rather than a restriction (Art. 18).
        lift: Lift the subject's restrictions and objections instead (tell the subject first, Art. 18(3)).
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (an id `lethe requests` lists); empty means the
            subject's open request of this type, or a new one.
    """
    if not subject_id.strip():
        raise ValueError("subject_id must not be blank")
    request = (request_id or "").strip() or None
    if lift and request:
        raise ValueError("request_id does not go with lift: lifting answers no request of the subject")
    outcome = restrict_task(
        policy,
        subject_type,
        subject_id.strip(),
        ground,
        activities or [],
        objection,
        lift,
        received,
        request,
    )
    publish_outcome_task("restriction", outcome)
    return outcome
