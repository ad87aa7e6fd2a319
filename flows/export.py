"""Access and portability (GDPR Art. 15 and 20): one subject's data and the facts about its processing."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Any, Literal

from prefect import flow

from tasks.forms import Instant, RequestRef, SubjectId, parse_instant
from tasks.requests import (
    begin_request,
    export_task,
    forget_closed_task,
    outcome_state,
    publish_outcome_task,
)
from tasks.shared import CLOSE_SHARED


@flow(name="subject-export", persist_result=False, log_prints=False, **CLOSE_SHARED)
def export_flow(
    subject_id: SubjectId = "",
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    out_dir: str = "var/exports",
    passphrase_secret: str = "",
    received: Instant = "",
    request_type: Literal["access", "portability"] = "access",
    request_id: RequestRef = "",
) -> Any:
    """Export everything Lethe's policy knows about one data subject into a zip (Art. 15 and 20).

    Ends Completed "Exported" or "Not found" (docs/flows.md). Once the request is registered, the run's
    parameters hold its reference instead of the identifier; a retry continues by that reference.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email); empty
            when request_id names the request to continue.
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        out_dir: Folder on the worker where the zip is written.
        passphrase_secret: Name of a Prefect Secret block holding a passphrase; when set the zip is encrypted.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_type: The request it answers: access (Art. 15) or portability (Art. 20).
        request_id: The open request this run continues (its reference, as `lethe requests` lists it); empty
            means the subject's open request of this type, or a new one.
    """
    at = parse_instant(received, "received")
    registered = begin_request("export", policy, subject_type, subject_id, request_type, at, request_id)
    if registered["outcome"] != "registered":
        publish_outcome_task("export", registered)
        return outcome_state("export", registered)
    reference = registered["request"]
    outcome = export_task(
        policy, subject_type, subject_id, out_dir, passphrase_secret.strip() or None, at, request_type,
        reference,
    )  # fmt: skip
    outcome.setdefault("request", reference)
    publish_outcome_task("export", outcome)
    forget_closed_task(reference)
    return outcome_state("export", outcome)
