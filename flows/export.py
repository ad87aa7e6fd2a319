"""Access and portability (GDPR Art. 15 and 20): one subject's data and the facts about its processing."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import datetime
from typing import Any, Literal

from prefect import flow

from tasks.requests import SubjectId, export_task, publish_outcome_task
from tasks.shared import CLOSE_SHARED


@flow(name="subject-export", persist_result=False, log_prints=False, **CLOSE_SHARED)
def export_flow(
    subject_id: SubjectId,
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    out_dir: str = "var/exports",
    passphrase_secret: str | None = None,
    received: datetime | None = None,
    request_type: Literal["access", "portability"] = "access",
    request_id: str | None = None,
) -> dict[str, Any]:
    """Export everything Lethe's policy knows about one data subject into a zip (Art. 15 and 20).

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email).
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        out_dir: Folder on the worker where the zip is written.
        passphrase_secret: Name of a Prefect Secret block holding a passphrase; when set the zip is encrypted.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_type: The request it answers: access (Art. 15) or portability (Art. 20).
        request_id: The open request this run continues (an id `lethe requests` lists); empty means the
            subject's open request of this type, or a new one.
    """
    if not subject_id.strip():
        raise ValueError("subject_id must not be blank")
    request = (request_id or "").strip() or None
    outcome = export_task(
        policy, subject_type, subject_id.strip(), out_dir, passphrase_secret, received, request_type, request
    )
    publish_outcome_task("export", outcome)
    return outcome
