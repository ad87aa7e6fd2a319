"""Restriction (GDPR Art. 18) and objection (Art. 21): stop processing a subject's data, or resume it."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Any, Literal

from prefect import flow

from tasks.forms import Instant, RequestRef, SubjectId, parse_instant
from tasks.recipients import notify_recipients_task
from tasks.requests import (
    begin_request,
    forget_closed_task,
    outcome_state,
    publish_outcome_task,
    replace_parameters_task,
    restrict_task,
)
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
    subject_id: SubjectId = "",
    ground: Ground = "accuracy-contested",
    activities: tuple[str, ...] = (),
    objection: bool = False,
    lift: bool = False,
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    received: Instant = "",
    request_id: RequestRef = "",
) -> Any:
    """Register a restriction or objection for one subject, or lift every one it has.

    Ends Completed "Restricted", "Lifted" or "Not found" (docs/flows.md). Once the request is registered,
    the run's parameters hold its reference instead of the identifier; a retry continues by that reference.
    A lift answers no request: its parameters lose the identifier when it is done.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email); empty
            when request_id names the request to continue.
        ground: Why: Art. 18(1)(a)-(d) for restrictions, Art. 21 for objections.
        activities: Processing activities it applies to (names from the policy); empty means all.
        objection: An objection (Art. 21) rather than a restriction (Art. 18).
        lift: Lift the subject's restrictions and objections instead (tell the subject first, Art. 18(3)).
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (its reference, as `lethe requests` lists it); empty
            means the subject's open request of this type, or a new one.
    """
    at = parse_instant(received, "received")
    if lift:
        if request_id.strip():
            raise ValueError("request_id does not go with lift: lifting answers no request of the subject")
        if not subject_id.strip():
            raise ValueError("subject_id must not be blank")
        outcome = restrict_task(
            policy, subject_type, subject_id, ground, list(activities), objection, True, at, None
        )
        replace_parameters_task("restriction", None, subject_id, {"subject_id": ""})
        publish_outcome_task("restriction", outcome)
        return outcome_state("restriction", outcome)
    request_type = "objection" if objection else "restriction"
    registered = begin_request("restriction", policy, subject_type, subject_id, request_type, at, request_id)
    if registered["outcome"] != "registered":
        publish_outcome_task("restriction", registered)
        return outcome_state("restriction", registered)
    reference = registered["request"]
    outcome = restrict_task(
        policy, subject_type, subject_id, ground, list(activities), objection, False, at, reference
    )
    outcome.setdefault("request", reference)
    if told := notify_recipients_task(policy, "restriction", subject_type, outcome):
        outcome["recipients"] = told  # Art. 19: who was told, and how (the ledger has the counts)
    publish_outcome_task("restriction", outcome)
    forget_closed_task(reference)
    return outcome_state("restriction", outcome)
