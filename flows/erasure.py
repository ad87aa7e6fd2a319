"""Erasure (GDPR Art. 17): delete or pseudonymise one subject as the policy says, verified, with a receipt."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import datetime
from typing import Any

from prefect import flow

from tasks.requests import SubjectId, erase_task, publish_outcome_task
from tasks.shared import CLOSE_SHARED


@flow(name="subject-erasure", persist_result=False, log_prints=False, **CLOSE_SHARED)
def erasure_flow(
    subject_id: SubjectId,
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    dry_run: bool = True,
    received: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Erase one data subject: per table delete, pseudonymise or keep (with the legal ground), then verify.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email).
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        dry_run: Only show what would be erased and kept; run again with this off to erase.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (an id `lethe requests` lists); empty means the
            subject's open request of this type, or a new one.
    """
    if not subject_id.strip():
        raise ValueError("subject_id must not be blank")
    request = (request_id or "").strip() or None
    outcome = erase_task(policy, subject_type, subject_id.strip(), dry_run, received, request)
    publish_outcome_task("erasure", outcome)
    return outcome
