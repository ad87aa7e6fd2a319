"""Erasure (GDPR Art. 17): delete or pseudonymise one subject (or a queue) as the policy says, verified."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger, pause_flow_run
from prefect.input import RunInput
from prefect.runtime import deployment, flow_run
from pydantic import Field

from lethe.requests.erasure.queue import check_queue
from tasks.forms import Instant, RequestRef, SubjectId, parse_instant
from tasks.recipients import notify_recipients_task
from tasks.requests import (
    begin_request,
    erase_queue_task,
    erase_task,
    forget_closed_task,
    outcome_state,
    publish_outcome_task,
    record_decision_task,
    replace_parameters_task,
)
from tasks.shared import CLOSE_SHARED, release_shared


class ErasureApproval(RunInput):
    """The operator's answer when a real erasure pauses, showing its plan."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: erase as planned; reject: change nothing, the request stays open."
    )
    reason: str = Field(
        default="", max_length=300, description="Why (recorded in the ledger); no personal data here."
    )


@flow(name="subject-erasure", persist_result=False, log_prints=False, **CLOSE_SHARED)
def erasure_flow(
    subject_id: SubjectId = "",
    subject_type: str = "customer",
    policy: str = "config/demo.yaml",
    dry_run: bool = True,
    received: Instant = "",
    request_id: RequestRef = "",
    subject_ids: tuple[SubjectId, ...] = (),
) -> Any:
    """Erase one data subject (or a queue of them): per table delete, pseudonymise or keep (with the legal ground), then verify.

    Ends Completed "Erased", "Dry run", "Refused: legal hold" or "Not found", or Cancelled "Not approved"
    (docs/flows.md). A real erasure started from a deployment (the UI) first pauses with its plan (rows per
    table and the legal grounds) until an operator approves or rejects it. Once the request is registered,
    the run's parameters hold its reference instead of the identifier: run the real erasure after a dry run
    with that request_id alone.

    Args:
        subject_id: The subject's key or one of its lookup identifiers (e.g. the customer's email); empty
            when request_id names the request to continue.
        subject_type: Kind of data subject, as named under `subjects:` in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        dry_run: Only show what would be erased and kept; run again with this off to erase.
        received: When the request was received (starts the one-month deadline); empty means now.
        request_id: The open request this run continues (its reference, as `lethe requests` and a dry run's
            run name show it); empty means the subject's open erasure request, or a new one.
        subject_ids: A queue instead of subject_id: each subject erased in its own transactions, one refused
            (hold, not found) without stopping the others; the outcome counts them. Once the queue has run,
            the run's parameters no longer hold the identifiers (D-2).
    """
    if subject_ids:
        return _erase_queue(policy, subject_type, subject_ids, dry_run, received, subject_id, request_id)
    at = parse_instant(received, "received")
    registered = begin_request("erasure", policy, subject_type, subject_id, "erasure", at, request_id)
    if registered["outcome"] != "registered":
        publish_outcome_task("erasure", registered)
        return outcome_state("erasure", registered)
    reference = registered["request"]
    asks = not dry_run and bool(deployment.get_id())  # started from a deployment: an operator approves
    outcome: dict[str, Any] = {"outcome": "unplanned"}
    if dry_run or asks:
        outcome = erase_task(policy, subject_type, subject_id, True, at, reference)
    if asks and outcome["outcome"] == "dry-run":
        approved, reason = _approved(policy, outcome, reference)
        if not approved:
            outcome = {"outcome": "not-approved", "request": reference, "reason": reason}
    if not dry_run and outcome["outcome"] != "not-approved":
        # Also after a plan refused on a legal hold: the real attempt records the refusal, closing the request.
        outcome = erase_task(policy, subject_type, subject_id, False, at, reference)
    outcome.setdefault("request", reference)
    if told := notify_recipients_task(policy, "erasure", subject_type, outcome):
        outcome["recipients"] = told  # Art. 19: who was told, and how (the ledger has the counts)
    publish_outcome_task("erasure", outcome)
    forget_closed_task(reference)
    return outcome_state("erasure", outcome)


def _approved(policy: str, plan: dict[str, Any], reference: str) -> tuple[bool, str]:
    """Pause until an operator answers, showing the plan (counts and grounds, never values); record it."""
    rows = "\n".join(
        f"| {table} | {action} | {count} | {reason or '-'} |" for table, action, count, reason in plan["plan"]
    )
    description = (
        f"**Erase the subject of request {reference}?**\n\n"
        "| table | action | rows | legal ground |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        "**approve** erases as above, then verifies; **reject** changes nothing, records your reason in the "
        "ledger and leaves the request open."
    )
    get_run_logger().warning("erasure of request %s waits for approval", reference)
    asked_at = datetime.now(UTC)
    if (run_id := flow_run.get_id()) is not None:
        release_shared(str(run_id))  # no connection stays open while the run waits, for up to a day
    answer = pause_flow_run(
        wait_for_input=ErasureApproval.with_initial_data(description=description),
        timeout=24 * 3600,
        poll_interval=2,
    )
    approved = answer.decision == "approve"
    reason = answer.reason.strip() or "(no reason given)"
    record_decision_task(policy, "erasure", reference, approved, reason, asked_at)
    return approved, reason


def _erase_queue(
    policy: str,
    subject_type: str,
    subject_ids: tuple[str, ...],
    dry_run: bool,
    received: str,
    subject_id: str,
    request_id: str,
) -> Any:
    """A queue of erasures in one run; from a deployment a real one first pauses with the queue's plan."""
    outcome: dict[str, Any] = {"outcome": "unplanned"}
    try:
        if subject_id.strip() or request_id.strip():
            raise ValueError(
                "subject_ids is a queue instead of subject_id (and its request_id): give one only"
            )
        queue = check_queue(enumerate(subject_ids, start=1))  # refused whole, before anything changes
        at = parse_instant(received, "received")
        if not dry_run and deployment.get_id():
            plan = erase_queue_task(policy, subject_type, queue, True, at)
            approved, reason = _queue_approved(policy, plan)
            if not approved:
                outcome = {"outcome": "not-approved", "subjects": plan["subjects"], "reason": reason}
        if outcome["outcome"] != "not-approved":
            outcome = erase_queue_task(policy, subject_type, queue, dry_run, at)
    finally:
        # D-2: the identifiers leave the run's parameters whatever happened; the outcome names fingerprints.
        replace_parameters_task("erasure", None, "", {"subject_ids": [], "subject_id": ""})
    publish_outcome_task("erasure", outcome)
    return outcome_state("erasure", outcome)


def _queue_approved(policy: str, plan: dict[str, Any]) -> tuple[bool, str]:
    """Pause until an operator answers, showing the queue's dry run (counts per outcome); record it."""
    counts = "\n".join(f"| {name} | {n} |" for name, n in sorted(plan["counts"].items()))
    description = (
        f"**Erase a queue of {plan['subjects']} subjects?**\n\n| planned outcome | subjects |\n|---|---|\n"
        f"{counts}\n\n**approve** erases each subject in its own transaction (a refused one does not stop the "
        "others); **reject** changes nothing and records your reason in the ledger."
    )
    get_run_logger().warning("erasure queue of %d subjects waits for approval", plan["subjects"])
    asked_at = datetime.now(UTC)
    if (run_id := flow_run.get_id()) is not None:
        release_shared(str(run_id))  # no connection stays open while the run waits, for up to a day
    answer = pause_flow_run(
        wait_for_input=ErasureApproval.with_initial_data(description=description),
        timeout=24 * 3600,
        poll_interval=2,
    )
    approved = answer.decision == "approve"
    reason = answer.reason.strip() or "(no reason given)"
    record_decision_task(policy, "erasure", "", approved, reason, asked_at)
    return approved, reason
