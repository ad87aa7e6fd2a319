"""The retention flow: validate, plan, ask for approval when the change is large, enforce rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger, pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed
from pydantic import Field

from lethe.policy.periods import check_instant
from lethe.retention.guard import large_changes
from lethe.retention.plan import RulePlan
from tasks.forms import Instant, parse_instant
from tasks.retention import (
    enforce_rule_task,
    plan_rule_task,
    publish_ledger_head_task,
    publish_summary_task,
    record_approval_task,
    record_plan_task,
    validate_policy_task,
)
from tasks.shared import CLOSE_SHARED, release_shared


class Approval(RunInput):
    """The operator's answer when a run pauses for approval: an explicit choice, and why."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: apply the plan above; reject: change nothing."
    )
    reason: str = Field(
        default="", max_length=300, description="Why (recorded in the ledger); no personal data here."
    )


@flow(name="retention", persist_result=False, log_prints=False, **CLOSE_SHARED)
def retention_flow(
    policy: str = "config/demo.yaml",
    rules: tuple[str, ...] = (),
    dry_run: bool = False,
    as_of: Instant = "",
    approval_threshold: Annotated[int, Field(ge=0)] = 100_000,
    max_share: Annotated[float, Field(ge=0, le=1)] = 0,
    batch_size: Annotated[int, Field(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Delete or anonymise personal data whose retention period has ended.

    Ends Completed "Enforced" or "Dry run", or Cancelled "Not approved" (docs/flows.md); its data is
    ``{"pending": rows planned, "applied": rows changed}``.

    Args:
        policy: Path of the policy file, relative to the worker's working directory.
        rules: Names of the retention rules to run; empty runs every rule of the policy.
        dry_run: Only plan and report what would change; change nothing.
        as_of: Instant at which expiry is judged (with a time zone, not later than now); empty means now.
        approval_threshold: Pause for an operator's approval in the UI when more rows than this would change.
        max_share: Pause for approval when a rule would change more than this share of its table (0 to 1);
            0 uses each rule's max_share (default 0.5).
        batch_size: Rows per transaction; 0 uses each rule's own setting (default 5000).
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    # A future instant would expire rows whose period has not ended: refused before anything is read.
    moment = check_instant(parse_instant(as_of, "as_of") or started, "as_of", allow_future=False)
    run_id = flow_run.get_id() or f"local-{started.isoformat()}"
    share, batch = max_share or None, batch_size or None
    at = moment.isoformat(timespec="seconds")

    names = validate_policy_task(policy, list(rules))
    plans = [plan_rule_task(policy, name, moment, run_id, batch, share) for name in names]
    total = sum(p.pending for p in plans)
    record_plan_task(policy, plans, moment, run_id, started)
    publish_summary_task(plans, f"retention plan at {at}: {total} rows")
    if dry_run:
        logger.info("dry run: %d rows would change in %d rules", total, len(plans))
        data = {"pending": total, "applied": 0}
        return Completed(name="Dry run", message=f"{total} rows would change", data=data)
    if total > approval_threshold or large_changes(plans):
        approved, reason = _approved(policy, run_id, plans, approval_threshold)
        if not approved:
            logger.warning("not approved: nothing changed")
            data = {"pending": total, "applied": 0}
            return Cancelled(name="Not approved", message=f"not approved: {reason}", data=data)

    # Rules without pending rows still run: they copy any batch a crashed run left out of the ledger,
    # verify, and record that they found nothing to do.
    results = [
        enforce_rule_task(policy, name, moment, run_id, batch, plan.pending)
        for name, plan in zip(names, plans, strict=True)
    ]
    publish_summary_task(results, f"retention run at {at}")
    publish_ledger_head_task()
    applied = sum(r.applied for r in results)
    logger.info("retention done: %d rows in %d rules, verified", applied, len(results))
    data = {"pending": total, "applied": applied}
    return Completed(name="Enforced", message=f"{applied} rows in {len(results)} rules, verified", data=data)


def _approved(policy: str, run_id: str, plans: list[RulePlan], threshold: int) -> tuple[bool, str]:
    """Pause until an operator answers; the pause says why (rows over the threshold, rules over their share)
    and what would change (rows per rule, never values). Returns the decision and its reason."""
    total = sum(p.pending for p in plans)
    reasons = [f"{total:,} rows would change (approval threshold {threshold:,})"] if total > threshold else []
    reasons += large_changes(plans)
    get_run_logger().warning("waiting for approval: %s", "; ".join(reasons))
    table = "\n".join(
        f"| {p.rule} | {p.action} | {p.pending:,} | {p.share:.0%} |" for p in plans if p.pending
    )
    description = (
        "**Approval needed before changing data**\n\n"
        + "\n".join(f"- {r}" for r in reasons)
        + "\n\n| rule | action | rows | share of table |\n|---|---|---|---|\n"
        + table
        + _RESUME
    )
    asked_at = datetime.now(UTC)
    release_shared(run_id)  # no database connection stays open while the run waits, for up to a day
    answer = pause_flow_run(
        wait_for_input=Approval.with_initial_data(description=description),
        timeout=24 * 3600,
        poll_interval=2,
    )
    approved = answer.decision == "approve"
    reason = answer.reason.strip() or "(no reason given)"
    record_approval_task(policy, run_id, approved, total, asked_at, reason)
    return approved, reason


_RESUME = "\n\n**approve** applies the plan; **reject** changes nothing and records your reason."


if __name__ == "__main__":
    retention_flow()
