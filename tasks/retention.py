"""Prefect tasks around the retention core: I/O, retries, artifacts; no personal data in or out.

Every task takes and returns only names, counts and instants. Nothing is cached or persisted
(``cache_policy=NO_CACHE``, ``persist_result=False``): results would be pickled to disk with no expiry.
Transient database errors (lost connection, deadlock) are retried; anything else fails at once.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from lethe.errors import TransientStoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.loading import load_policy
from lethe.policy.periods import check_instant
from lethe.retention.enforce import RuleResult, enforce_rule
from lethe.retention.plan import RulePlan, plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid

PROGRESS_EVERY_SECONDS = 2.0


def is_transient(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    """Retry only errors worth retrying; a policy or schema error would fail the same way again."""
    try:
        state.result(raise_on_failure=True)
    except TransientStoreError:
        return True
    except Exception:  # any other failure is final
        return False
    return False


def _run(
    policy_path: str, as_of: datetime, run_id: str, stores: Stores, *, with_ledger: bool
) -> RetentionRun:
    # The flow checks its as_of too; a task run on its own must not judge expiry in the future either.
    check_instant(as_of, "as_of", allow_future=False)
    policy = load_policy(policy_path)
    settings = load_settings()
    ledger = Ledger.from_settings(settings) if with_ledger else None
    return RetentionRun(policy, stores, settings, as_of, ledger=ledger, run_id=run_id)


@task(name="validate-policy", cache_policy=NO_CACHE, persist_result=False)
def validate_policy_task(policy_path: str, rules: list[str]) -> list[str]:
    """Load the policy, check it against the live schemas, and return the names of the rules to run."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        warnings = require_valid(policy, stores)
        names = [
            rule.name
            for rule in RetentionRun(policy, stores, load_settings(), datetime.now(UTC)).rules(rules)
        ]
    for finding in warnings:
        get_run_logger().warning("%s: %s", finding.where, finding.message)
    return names


@task(
    name="plan-rule",
    task_run_name="plan-{rule}",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=is_transient,
)
def plan_rule_task(
    policy_path: str,
    rule: str,
    as_of: datetime,
    run_id: str,
    batch_size: int | None,
    max_share: float | None = None,
) -> RulePlan:
    """Count one rule's pending rows and share of its table (no sample keys: they would land in Prefect)."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        run = _run(policy_path, as_of, run_id, stores, with_ledger=False)
        return plan_rule(run, policy.rule(rule), batch_size=batch_size, sample=0, max_share=max_share)


@task(name="record-plan", cache_policy=NO_CACHE, persist_result=False)
def record_plan_task(
    policy_path: str, plans: list[RulePlan], as_of: datetime, run_id: str, started: datetime
) -> int:
    """Append the plan to the evidence ledger; return its sequence number."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        run = _run(policy_path, as_of, run_id, stores, with_ledger=True)
        assert run.ledger is not None
        return run.ledger.append(plan_entry(run, plans, started)).seq


@task(name="record-approval", cache_policy=NO_CACHE, persist_result=False)
def record_approval_task(
    policy_path: str, run_id: str, approved: bool, pending: int, asked_at: datetime
) -> None:
    """Record an operator's decision on a large change in the ledger."""
    policy = load_policy(policy_path)
    ledger = Ledger.from_settings(load_settings())
    ledger.append(
        LedgerEntry(
            run_id=run_id,
            flow="retention",
            policy_hash=policy.hash,
            action="retention.approval",
            outcome="approved" if approved else "rejected",
            started_at=asked_at,
            ended_at=datetime.now(UTC),
            counts={"pending": pending},
        )
    )


class _ProgressReporter:
    """Updates a progress artifact at most every few seconds, so long rules show movement."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.artifact_id: Any = None
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = now
        percent = 100.0 * done / total if total else 100.0
        if self.artifact_id is None:
            self.artifact_id = create_progress_artifact(percent, description=f"retention rule {self.rule}")
        else:
            update_progress_artifact(self.artifact_id, percent)
        get_run_logger().info("rule %s: %d of %d rows", self.rule, done, total)


@task(
    name="enforce-rule",
    task_run_name="enforce-{rule}",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=is_transient,
)
def enforce_rule_task(
    policy_path: str,
    rule: str,
    as_of: datetime,
    run_id: str,
    batch_size: int | None,
    expected: int | None = None,
) -> RuleResult:
    """Enforce one rule in batches; a retry resumes where the last committed batch left off.

    ``expected``: the rows the plan counted, the total of the progress artifact (saves counting them again).
    """
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        run = _run(policy_path, as_of, run_id, stores, with_ledger=True)
        result = enforce_rule(
            run, policy.rule(rule), batch_size=batch_size, progress=_ProgressReporter(rule), expected=expected
        )
    get_run_logger().info(
        "rule %s: %s %d rows in %d batches, %d held back",
        rule,
        result.action,
        result.applied,
        result.batches,
        result.held,
    )
    return result


def _counts(value: int | dict[str, int]) -> str:
    """A count, or named counts as ``pending 4, held 0``."""
    return str(value) if isinstance(value, int) else ", ".join(f"{k} {n}" for k, n in value.items())


def _table_rows(items: list[RulePlan] | list[RuleResult]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        row = {k: v for k, v in asdict(item).items() if k not in {"sample_keys", "children", "by_controller"}}
        row["children"] = ", ".join(f"{k}: {v}" for k, v in item.children.items()) or "-"
        # Processor mode: per controller label (a name in the policy, or a keyed fingerprint), counts only.
        row["by_controller"] = "; ".join(f"{c}: {_counts(n)}" for c, n in item.by_controller.items()) or "-"
        rows.append({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()})
    return rows


@task(name="publish-ledger-head", cache_policy=NO_CACHE, persist_result=False)
def publish_ledger_head_task() -> None:
    """Publish the ledger's head as an artifact: an anchor outside the ledger for `lethe ledger verify`."""
    ledger = Ledger.from_settings(load_settings())
    head = ledger.head()
    if head is None:
        return
    seq, mac = head
    create_markdown_artifact(
        f"Evidence ledger head after this run: `{seq}:{mac}`\n\n"
        f"Check later that nothing was removed or rolled back: `lethe ledger verify --expect-head {seq}:{mac}`",
        key="ledger-head",
        description="anchor of the evidence ledger",
    )


@task(name="publish-summary", cache_policy=NO_CACHE, persist_result=False)
def publish_summary_task(items: list[RulePlan] | list[RuleResult], title: str) -> None:
    """A table artifact of plans or results: counts per rule, never values."""
    create_table_artifact(_table_rows(items), key="retention-summary", description=title)
