"""Erasure (GDPR Art. 17): delete or pseudonymise one subject (or a queue) as the policy says, verified."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import datetime
from typing import Any

from prefect import flow

from lethe.requests.erasure.queue import check_queue
from tasks.requests import SubjectId, erase_queue_task, erase_task, publish_outcome_task


@flow(name="subject-erasure", persist_result=False, log_prints=False)
def erasure_flow(
    subject_id: SubjectId | None = None,
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    dry_run: bool = True,
    received: datetime | None = None,
    request_id: str | None = None,
    subject_ids: list[SubjectId] | None = None,
) -> dict[str, Any]:
    """Erase one data subject, or a queue of them: per table delete, pseudonymise or keep (with the legal
    ground), then verify.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email).
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        dry_run: Only show what would be erased and kept; run again with this off to erase.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (an id `lethe requests` lists); empty means the
            subject's open request of this type, or a new one.
        subject_ids: A queue instead of subject_id: each subject erased in its own transactions, one refused
            (hold, not found) without stopping the others; the outcome counts them.
    """
    if subject_ids is not None:
        if subject_id is not None or request_id:
            raise ValueError("subject_ids is a queue instead of subject_id (and its request_id)")
        queue = check_queue(enumerate(subject_ids, start=1))  # refused whole before anything changes
        outcome = erase_queue_task(policy, subject_type, queue, dry_run, received)
        publish_outcome_task("erasure", outcome)
        return outcome
    if subject_id is None or not subject_id.strip():
        raise ValueError("subject_id must not be blank")
    request = (request_id or "").strip() or None
    outcome = erase_task(policy, subject_type, subject_id.strip(), dry_run, received, request)
    publish_outcome_task("erasure", outcome)
    return outcome
