"""The retention flow: validate, plan, ask for approval when the change is large, enforce rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from prefect import flow, get_run_logger, pause_flow_run
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from tasks.retention import (
    enforce_rule_task,
    plan_rule_task,
    publish_ledger_head_task,
    publish_summary_task,
    record_approval_task,
    record_plan_task,
    validate_policy_task,
)


class Approval(BaseModel):
    """The operator's answer when a run pauses for approval."""

    approve: bool = Field(default=False, description="Apply the planned deletions and anonymisations.")


@flow(name="retention", persist_result=False, log_prints=False)
def retention_flow(
    policy: str = "config/demo.yaml",
    rules: list[str] | None = None,
    dry_run: bool = False,
    as_of: datetime | None = None,
    approval_threshold: Annotated[int, Field(ge=0)] = 100_000,
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None,
) -> dict[str, int]:
    """Delete or anonymise personal data whose retention period has ended.

    Args:
        policy: Path of the policy file, relative to the worker's working directory.
        rules: Names of the retention rules to run; empty runs every rule of the policy.
        dry_run: Only plan and report what would change; change nothing.
        as_of: Instant at which expiry is judged (with a time zone); empty means now.
        approval_threshold: Pause for an operator's approval in the UI when more rows than this would change.
        batch_size: Rows per transaction; empty uses each rule's own setting (default 5000).
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    moment = as_of or started
    if moment.tzinfo is None:
        raise ValueError("as_of needs a time zone, e.g. 2026-11-25T02:00:00+01:00")
    run_id = flow_run.get_id() or f"local-{started.isoformat()}"

    names = validate_policy_task(policy, rules or [])
    plans = [plan_rule_task(policy, name, moment, run_id, batch_size) for name in names]
    total = sum(p.pending for p in plans)
    record_plan_task(policy, plans, moment, run_id, started)
    publish_summary_task(plans, f"retention plan at {moment.isoformat()}: {total} rows")
    if dry_run:
        logger.info("dry run: %d rows would change in %d rules", total, len(plans))
        return {"pending": total, "applied": 0}
    if total > approval_threshold:
        logger.warning("%d rows would change (threshold %d): waiting for approval", total, approval_threshold)
        asked_at = datetime.now(UTC)
        answer = pause_flow_run(wait_for_input=Approval, timeout=24 * 3600, poll_interval=2)
        record_approval_task(policy, run_id, answer.approve, total, asked_at)
        if not answer.approve:
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


if __name__ == "__main__":
    retention_flow()
