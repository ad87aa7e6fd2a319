"""Access and portability (GDPR Art. 15 and 20): one subject's data and the facts about its processing."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Any, Literal

from prefect import flow

from tasks.forms import Instant, RequestRef, SubjectId, parse_instant
from tasks.requests import (
    UNENCRYPTED_WARNING,
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
    out_dir: str = "",
    encrypt: bool = True,
    passphrase_secret: str = "lethe-export-passphrase",
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
        out_dir: Where the export is delivered: a folder on the worker or an fsspec URL (s3://bucket/prefix);
            empty means LETHE_EXPORT_DESTINATION.
        encrypt: Encrypt the export (the default) with the passphrase of the Secret block below; when off,
            the outcome and the run's state carry a warning: the file holds personal data in clear.
        passphrase_secret: Name of the Prefect Secret block holding the export passphrase.
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
    if encrypt and not passphrase_secret.strip():
        raise ValueError("encrypt is on: name the Secret block holding the passphrase (passphrase_secret)")
    secret = passphrase_secret.strip() if encrypt else None
    outcome = export_task(policy, subject_type, subject_id, out_dir, secret, at, request_type, reference)
    outcome.setdefault("request", reference)
    if outcome.get("outcome") == "completed" and not outcome.get("encrypted"):
        outcome["warning"] = UNENCRYPTED_WARNING
    publish_outcome_task("export", outcome)
    forget_closed_task(reference)
    return outcome_state("export", outcome)
