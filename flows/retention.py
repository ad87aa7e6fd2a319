"""The retention flow: validate, plan, ask for approval when the change is large, enforce rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from prefect import flow, get_run_logger, pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from lethe.policy.periods import check_instant
from lethe.retention.guard import large_changes
from lethe.retention.plan import RulePlan
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
    """The operator's answer when a run pauses for approval."""

    approve: bool = Field(default=False, description="Apply the planned deletions and anonymisations.")


@flow(name="retention", persist_result=False, log_prints=False, **CLOSE_SHARED)
def retention_flow(
    policy: str = "config/demo.yaml",
    rules: list[str] | None = None,
    dry_run: bool = False,
    as_of: datetime | None = None,
    approval_threshold: Annotated[int, Field(ge=0)] = 100_000,
    max_share: Annotated[float, Field(gt=0, le=1)] | None = None,
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None,
) -> dict[str, int]:
    """Delete or anonymise personal data whose retention period has ended.

    Args:
        policy: Path of the policy file, relative to the worker's working directory.
        rules: Names of the retention rules to run; empty runs every rule of the policy.
        dry_run: Only plan and report what would change; change nothing.
        as_of: Instant at which expiry is judged (with a time zone, not later than now); empty means now.
        approval_threshold: Pause for an operator's approval in the UI when more rows than this would change.
        max_share: Pause for approval when a rule would change more than this share of its table (0 to 1);
            empty uses each rule's max_share (default 0.5).
        batch_size: Rows per transaction; empty uses each rule's own setting (default 5000).
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    # A future instant would expire rows whose period has not ended: refused before anything is read.
    moment = check_instant(as_of or started, "as_of", allow_future=False)
    run_id = flow_run.get_id() or f"local-{started.isoformat()}"

    names = validate_policy_task(policy, rules or [])
    plans = [plan_rule_task(policy, name, moment, run_id, batch_size, max_share) for name in names]
    total = sum(p.pending for p in plans)
    record_plan_task(policy, plans, moment, run_id, started)
    publish_summary_task(plans, f"retention plan at {moment.isoformat()}: {total} rows")
    if dry_run:
        logger.info("dry run: %d rows would change in %d rules", total, len(plans))
        return {"pending": total, "applied": 0}
    if (total > approval_threshold or large_changes(plans)) and not _approved(
        policy, run_id, plans, approval_threshold
    ):
        logger.warning("not approved: nothing changed")
        return {"pending": total, "applied": 0}

    # Rules without pending rows still run: they copy any batch a crashed run left out of the ledger,
    # verify, and record that they found nothing to do.
    results = [
        enforce_rule_task(policy, name, moment, run_id, batch_size, plan.pending)
        for name, plan in zip(names, plans, strict=True)
    ]
    publish_summary_task(results, f"retention run at {moment.isoformat()}")
    publish_ledger_head_task()
    applied = sum(r.applied for r in results)
    logger.info("retention done: %d rows in %d rules, verified", applied, len(results))
    return {"pending": total, "applied": applied}


def _approved(policy: str, run_id: str, plans: list[RulePlan], threshold: int) -> bool:
    """Pause until an operator answers; the pause says why (rows over the threshold, rules over their share)."""
    total = sum(p.pending for p in plans)
    reasons = [f"{total:,} rows would change (approval threshold {threshold:,})"] if total > threshold else []
    reasons += large_changes(plans)
    get_run_logger().warning("waiting for approval: %s", "; ".join(reasons))
    description = "**Approval needed before changing data**\n\n" + "\n".join(f"- {r}" for r in reasons)
    asked_at = datetime.now(UTC)
    release_shared(run_id)  # no database connection stays open while the run waits, for up to a day
    answer = pause_flow_run(
        wait_for_input=Approval.with_initial_data(description=description + _RESUME, approve=False),
        timeout=24 * 3600,
        poll_interval=2,
    )
    record_approval_task(policy, run_id, answer.approve, total, asked_at)
    return answer.approve


_RESUME = "\n\nResume with **approve** on to apply the plan, off to change nothing."


if __name__ == "__main__":
    retention_flow()
