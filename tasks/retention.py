"""Prefect tasks around the retention core: I/O, retries, artifacts; no personal data in or out.

Every task takes and returns only names, counts and instants. Nothing is cached or persisted
(``cache_policy=NO_CACHE``, ``persist_result=False``): results would be pickled to disk with no expiry.
Transient database errors (lost connection, deadlock) are retried; anything else fails at once.
"""

from __future__ import annotations

import time
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
from prefect.concurrency.sync import concurrency
from prefect.states import State

from lethe.errors import TransientStoreError
from lethe.ledger.entry import LedgerEntry
from lethe.policy.periods import check_instant
from lethe.requests.holds import access_holds
from lethe.retention.enforce import (
    PartitionResult,
    RuleResult,
    enforce_partition,
    enforce_rule,
    finish_partitioned,
)
from lethe.retention.partitions import open_sealed, seal, split_rule
from lethe.retention.plan import RulePlan, plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid
from tasks.shared import SharedResources, shared_ledger, shared_resources

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


def _run(shared: SharedResources, as_of: datetime, run_id: str, *, with_ledger: bool) -> RetentionRun:
    # The flow checks its as_of too; a task run on its own must not judge expiry in the future either.
    check_instant(as_of, "as_of", allow_future=False)
    ledger = shared.ledger if with_ledger else None
    # Subjects with an open access request are held until it is answered (lethe.requests.holds).
    holds = access_holds(shared.policy, shared.stores, shared.settings)
    return RetentionRun(
        shared.policy, shared.stores, shared.settings, as_of, ledger=ledger, run_id=run_id, holds=holds
    )


@task(name="validate-policy", cache_policy=NO_CACHE, persist_result=False)
def validate_policy_task(policy_path: str, rules: list[str]) -> list[str]:
    """Load the policy, check it against the live schemas, and return the names of the rules to run."""
    with shared_resources(policy_path) as shared:
        warnings = require_valid(shared.policy, shared.stores)
        now = datetime.now(UTC)
        names = [
            rule.name
            for rule in RetentionRun(shared.policy, shared.stores, shared.settings, now).rules(rules)
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
    with shared_resources(policy_path) as shared:
        run = _run(shared, as_of, run_id, with_ledger=False)
        return plan_rule(run, shared.policy.rule(rule), batch_size=batch_size, sample=0, max_share=max_share)


@task(name="record-plan", cache_policy=NO_CACHE, persist_result=False)
def record_plan_task(
    policy_path: str, plans: list[RulePlan], as_of: datetime, run_id: str, started: datetime
) -> int:
    """Append the plan to the evidence ledger; return its sequence number."""
    with shared_resources(policy_path) as shared:
        run = _run(shared, as_of, run_id, with_ledger=True)
        return shared.ledger.append(plan_entry(run, plans, started)).seq


@task(name="record-approval", cache_policy=NO_CACHE, persist_result=False)
def record_approval_task(
    policy_path: str, run_id: str, approved: bool, pending: int, asked_at: datetime, reason: str = ""
) -> None:
    """Record an operator's decision on a large change, and its reason, in the ledger."""
    with shared_resources(policy_path) as shared:
        shared.ledger.append(
            LedgerEntry(
                run_id=run_id,
                flow="retention",
                policy_hash=shared.policy.hash,
                action="retention.approval",
                outcome="approved" if approved else "rejected",
                started_at=asked_at,
                ended_at=datetime.now(UTC),
                counts={"pending": pending},
                details={"reason": reason} if reason else {},
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
    with shared_resources(policy_path) as shared:
        run = _run(shared, as_of, run_id, with_ledger=True)
        result = enforce_rule(
            run,
            shared.policy.rule(rule),
            batch_size=batch_size,
            progress=_ProgressReporter(rule),
            expected=expected,
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


@task(
    name="split-rule",
    task_run_name="split-{rule}",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=is_transient,
)
def split_rule_task(policy_path: str, rule: str, as_of: datetime, run_id: str, partitions: int) -> list[str]:
    """The rule's partitions, computed once from its key index, each sealed (no plain key reaches Prefect)."""
    with shared_resources(policy_path) as shared:
        run = _run(shared, as_of, run_id, with_ledger=False)
        target = shared.policy.rule(rule)
        master = shared.settings.require_master_key()
        return [seal(master, target.table.store, rule, part) for part in split_rule(run, target, partitions)]


@task(
    name="enforce-partition",
    task_run_name="enforce-{rule}-part",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=is_transient,
)
def enforce_partition_task(
    policy_path: str, rule: str, as_of: datetime, run_id: str, batch_size: int | None, partition: str
) -> PartitionResult:
    """Enforce one sealed partition of a rule, holding a slot of the store's global concurrency limit.

    The limit is Prefect's ``store:<name>`` (``prefect gcl create store:<name> --limit N``; without one the
    partitions run unbounded). A retry (transient errors) runs this partition alone and resumes from its
    last committed batch. The partition opens its own store connections (its own pool): the flow run's
    shared pool would be shared by every partition running at once.
    """
    with shared_resources(policy_path) as shared:
        target = shared.policy.rule(rule)
        store = target.table.store
        with concurrency(f"store:{store}", occupy=1), Stores(shared.policy) as stores:
            check_instant(as_of, "as_of", allow_future=False)
            run = RetentionRun(
                shared.policy, stores, shared.settings, as_of, ledger=shared.ledger, run_id=run_id,
                holds=access_holds(shared.policy, stores, shared.settings),
            )  # fmt: skip
            part = open_sealed(shared.settings.require_master_key(), store, rule, partition)
            result = enforce_partition(run, target, part, batch_size=batch_size)
    get_run_logger().info(
        "rule %s %s: %s %d rows in %d batches", rule, result.partition, target.action, result.applied,
        result.batches,
    )  # fmt: skip
    return result


@task(name="finish-rule", task_run_name="finish-{rule}", cache_policy=NO_CACHE, persist_result=False)
def finish_partitioned_task(
    policy_path: str, rule: str, as_of: datetime, run_id: str, parts: list[PartitionResult], started: datetime
) -> RuleResult:
    """After a rule's partitions: one verifying count over the rule, one ledger entry adding them up."""
    with shared_resources(policy_path) as shared:
        run = _run(shared, as_of, run_id, with_ledger=True)
        return finish_partitioned(run, shared.policy.rule(rule), parts, started=started)


# The summary's columns: short names, so that the table fits a 1440-pixel screen beside Prefect's menu.
_PLAN_COLUMNS = {"rule": "rule", "action": "do", "cutoff": "cut-off", "pending": "rows", "held": "held"}
_RESULT_COLUMNS = {"rule": "rule", "action": "do", "applied": "rows", "held": "held", "remaining": "left"}


def _counts(value: int | dict[str, int]) -> str:
    """A count, or named counts as ``pending 4, held 0``."""
    return str(value) if isinstance(value, int) else ", ".join(f"{k} {n}" for k, n in value.items())


def _table_rows(items: list[RulePlan] | list[RuleResult]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        columns = _PLAN_COLUMNS if isinstance(item, RulePlan) else _RESULT_COLUMNS
        row: dict[str, Any] = {}
        for field, title in columns.items():
            value = getattr(item, field, None)
            row[title] = (
                value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value
            )
        if isinstance(item, RulePlan):
            row["share"] = f"{item.share:.0%}"
        else:
            row["batches"] = item.batches
        row["cascade"] = ", ".join(f"{k}: {v}" for k, v in item.children.items()) or "-"
        # Processor mode: per controller label (a name in the policy, or a keyed fingerprint), counts only.
        if item.by_controller:
            row["controllers"] = "; ".join(f"{c}: {_counts(n)}" for c, n in item.by_controller.items())
        rows.append(row)
    return rows


@task(name="publish-ledger-head", cache_policy=NO_CACHE, persist_result=False)
def publish_ledger_head_task() -> None:
    """Publish the ledger's head as an artifact: an anchor outside the ledger for `lethe ledger verify`."""
    with shared_ledger() as ledger:
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
