"""Enforcing a retention rule: delete or anonymise its pending rows in batches over key spans, verified after.

``enforce_rule`` walks the table's primary-key index in spans (``lethe.retention.spans``), one transaction per
span: one statement changes the span's pending rows and hands back their keys, the keys become leaves
(``lethe.ledger.leaves``), and the batch's journal row (counts, Merkle root, the leaves as one blob) is inserted
in the same transaction, so a crash leaves each batch applied-and-journalled or untouched. Journal rows reach
the evidence ledger in groups (``lethe.ledger.journal.transfer_pending``): at most every
``GROUP_COMMIT_SECONDS`` and at the end of the rule, one ledger entry per batch in one ledger transaction.
Finally the rule is verified: a count of the rows still pending, which the rule's ledger entry records.
A run holds a per-rule lock that dies with its process, so two runs never work on one rule at once.
A partitioned rule (``lethe.retention.partitions``) runs ``enforce_partition`` per primary-key range, each under
its own lock, then ``finish_partitioned``: one verifying count and one rule entry adding up the partitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprinter, key_id
from lethe.errors import LetheError, TransientStoreError, VerificationError
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.journal import ensure_journal, record_batch, transfer_pending
from lethe.ledger.leaves import leaves_of, leaves_of_scalars
from lethe.policy.model import RetentionRule
from lethe.retention.cascade import ChildLink, child_links
from lethe.retention.partitions import Partition, split_rule
from lethe.retention.plan import controller_counts, count_rule
from lethe.retention.run import Progress, RetentionRun, prepare_operators, store_error
from lethe.retention.spans import KEY_BOUND_CEILING, SpanSizer, apply_span, key_bound, span_end
from lethe.retention.sql import RuleSql, build_rule_sql
from lethe.stores.dialects import exclusive_lock

# Journal rows are copied to the ledger at most this often during a rule (and always at its end).
GROUP_COMMIT_SECONDS = 2.0
# A partition failing on a transient store error is retried alone this many times (in one process; the flow
# retries its partition task runs the same way), after 0.5 s, 1 s, ...
PARTITION_RETRIES = 3
PARTITION_RETRY_SECONDS = 0.5
# Partitions one process runs at once by default: each holds up to three connections of the store's pool
# (its lock, its batch, a ledger copy under the journal's lock) and SQLAlchemy's default pool has 15.
PARTITION_THREADS = 4

# Test-only hook points, None in production: called with the batch number just before a batch's transaction
# commits (its rows changed, its journal row inserted) and just after the commit (before the ledger copy).
# tests/support/retention_worker.py sets them in a child process to kill it there and prove crash safety.
_before_batch_commit: Callable[[int], None] | None = None
_after_batch_commit: Callable[[int], None] | None = None


@dataclass(frozen=True)
class RuleResult:
    """What enforcing a rule did."""

    rule: str
    table: str
    action: str
    cutoff: datetime
    applied: int
    held: int
    children: dict[str, int]
    batches: int
    remaining: int
    recovered: int
    started_at: datetime
    ended_at: datetime
    partitions: dict[str, int] = field(default_factory=dict)  # rows applied per partition, when partitioned
    by_controller: dict[str, int] = field(default_factory=dict)  # rows applied per controller label


def enforce_rule(
    run: RetentionRun,
    rule: RetentionRule,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
    expected: int | None = None,
    sql: RuleSql | None = None,
) -> RuleResult:
    """Delete or anonymise the rule's pending rows in batches, journal and ledger each, then verify.

    ``batch_size`` (else the rule's) fixes the span in rows of the primary-key index; without one the span
    adapts to the rule's ``batch_seconds`` (``lethe.retention.spans``). ``progress(done, total)`` is called
    after each batch; ``total`` is ``expected`` (e.g. what the plan just counted), or the rule's pending rows
    counted first when it is None. ``sql`` replaces the rule's own predicates (the end of a processor's
    contract deletes one controller's rows: ``lethe.processor.contract``).
    """
    if run.ledger is None:
        raise LetheError("enforcing needs the evidence ledger (set LETHE_LEDGER_KEY)")
    started = datetime.now(UTC)
    store = rule.table.store
    engine = run.stores.engine(store)
    with exclusive_lock(engine, f"retention:{store}:{rule.name}"):
        # Built first: a rule that does not fit the schema fails before anything is written to the store.
        sql = sql or build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings, run.holds)
        before = _controller_pending(run, rule, sql)
        journal = ensure_journal(engine)
        # Batches a crashed run committed but did not get into the ledger go in first.
        recovered = transfer_pending(engine, store, run.ledger)
        links = child_links(run.stores, store, sql.table) if rule.action == "delete" else []
        sizer = _sizer(rule, batch_size, key_bound(sql, links))
        # The total is only for progress reports; the verifying count after the run is what matters.
        total = expected or 0
        if progress is not None and expected is None:
            total = count_rule(run, rule, sql, links, sizer.size, sample=0, children=False).pending
        applied, batches, children = _walk(run, rule, sql, links, sizer, journal, progress, total)
        transfer_pending(engine, store, run.ledger)
        if progress is not None and applied != total:
            # Fewer rows than expected (a retry resuming, rows changed since the plan): the report ends at 100%.
            progress(applied, applied)
        remaining = count_rule(run, rule, sql, links, sizer.size, sample=0, children=False)
        after_run = _controller_pending(run, rule, sql)
    # Per controller from counts before and after, under the rule's lock (batches return keys only).
    by_controller = {c: n - after_run.get(c, 0) for c, n in before.items() if n - after_run.get(c, 0)}
    result = RuleResult(
        rule=rule.name, table=str(rule.table), action=rule.action, cutoff=sql.cutoff, applied=applied,
        held=remaining.held, children=children, batches=batches, remaining=remaining.pending,
        recovered=recovered, started_at=started, ended_at=datetime.now(UTC), by_controller=by_controller,
    )  # fmt: skip
    run.ledger.append(rule_entry(run, result))
    if remaining.pending:
        raise VerificationError(
            f"retention.{rule.name}: {remaining.pending} row(s) are still expired and not handled after the run"
        )
    return result


@dataclass(frozen=True)
class PartitionResult:
    """What enforcing one partition of a rule did (``lethe.retention.partitions``); counts only."""

    rule: str
    partition: str
    applied: int
    children: dict[str, int]
    batches: int
    recovered: int
    started_at: datetime
    ended_at: datetime


def enforce_partition(
    run: RetentionRun,
    rule: RetentionRule,
    partition: Partition,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> PartitionResult:
    """Enforce the rule over one primary-key range under the partition's own lock; no verifying count.

    Its batches are journalled with the partition's label and copied to the ledger before it returns;
    ``finish_partitioned`` verifies the whole rule once all partitions ran. ConcurrentRunError when another
    run holds this partition. ``progress(done, done)`` after each batch (a partition has no total).
    """
    if run.ledger is None:
        raise LetheError("enforcing needs the evidence ledger (set LETHE_LEDGER_KEY)")
    started = datetime.now(UTC)
    store = rule.table.store
    engine = run.stores.engine(store)
    with exclusive_lock(engine, f"retention:{store}:{rule.name}:{partition.label}"):
        sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings, run.holds)
        journal = ensure_journal(engine)
        # Only batches other runs left count as recovered (not this run's other partitions' fresh ones).
        recovered = transfer_pending(engine, store, run.ledger, own_run=run.run_id)
        links = child_links(run.stores, store, sql.table) if rule.action == "delete" else []
        sizer = _sizer(rule, batch_size, key_bound(sql, links))
        applied, batches, children = 0, 0, {link.label: 0 for link in links}
        if not partition.empty:
            applied, batches, children = _walk(
                run, rule, sql, links, sizer, journal, progress, 0, partition=partition
            )
        transfer_pending(engine, store, run.ledger)
    return PartitionResult(
        rule=rule.name, partition=partition.label, applied=applied, children=children, batches=batches,
        recovered=recovered, started_at=started, ended_at=datetime.now(UTC),
    )  # fmt: skip


def finish_partitioned(
    run: RetentionRun, rule: RetentionRule, parts: Sequence[PartitionResult], *, started: datetime
) -> RuleResult:
    """After a rule's partitions: copy what is left to the ledger, count what is still pending over the
    whole rule (one verifying count), record one rule entry adding up the partitions; VerificationError
    when rows are left (a partition that failed or was killed: the next run completes it)."""
    if run.ledger is None:
        raise LetheError("enforcing needs the evidence ledger (set LETHE_LEDGER_KEY)")
    store = rule.table.store
    engine = run.stores.engine(store)
    sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings, run.holds)
    links = child_links(run.stores, store, sql.table) if rule.action == "delete" else []
    recovered = transfer_pending(engine, store, run.ledger, own_run=run.run_id)
    remaining = count_rule(run, rule, sql, links, SpanSizer().size, sample=0, children=False)
    children: dict[str, int] = {link.label: 0 for link in links}
    for part in parts:
        for name, n in part.children.items():
            children[name] = children.get(name, 0) + n
    result = RuleResult(
        rule=rule.name, table=str(rule.table), action=rule.action, cutoff=sql.cutoff,
        applied=sum(p.applied for p in parts), held=remaining.held, children=children,
        batches=sum(p.batches for p in parts), remaining=remaining.pending,
        recovered=recovered + sum(p.recovered for p in parts), started_at=started, ended_at=datetime.now(UTC),
        partitions={p.partition: p.applied for p in parts},
    )  # fmt: skip
    run.ledger.append(rule_entry(run, result))
    if remaining.pending:
        raise VerificationError(
            f"retention.{rule.name}: {remaining.pending} row(s) are still expired and not handled after the run"
        )
    return result


def enforce_partitioned(
    run: RetentionRun,
    rule: RetentionRule,
    count: int,
    *,
    batch_size: int | None = None,
    workers: int | None = None,
) -> RuleResult:
    """Split the rule into ``count`` partitions, enforce them on ``workers`` threads (default ``count``, at
    most ``PARTITION_THREADS``), then verify the whole rule (``finish_partitioned``). In one process: the flow
    runs partitions as task runs, each with its own connections.

    Every partition runs to its end even when another fails; the first failure is raised afterwards (the
    partitions that finished are journalled and in the ledger, the next run completes the rest).
    """
    started = datetime.now(UTC)
    parts = split_rule(run, rule, count)
    results: list[PartitionResult] = []
    failures: list[BaseException] = []
    with ThreadPoolExecutor(
        max_workers=workers or min(count, PARTITION_THREADS), thread_name_prefix="lethe-partition"
    ) as pool:
        futures = [pool.submit(_retried, run, rule, p, batch_size) for p in parts]
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:  # every partition finishes first; the first failure is raised below
                failures.append(exc)
    if failures:
        raise failures[0]
    return finish_partitioned(run, rule, results, started=started)


def _retried(
    run: RetentionRun, rule: RetentionRule, part: Partition, batch_size: int | None
) -> PartitionResult:
    """One partition, retried alone on a transient error (a deadlock between neighbouring partitions' gap
    locks on MariaDB, a lost connection); a retry resumes from what the last attempt committed."""
    for attempt in range(PARTITION_RETRIES + 1):
        try:
            return enforce_partition(run, rule, part, batch_size=batch_size)
        except TransientStoreError:
            if attempt == PARTITION_RETRIES:
                raise
            time.sleep(PARTITION_RETRY_SECONDS * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _walk(
    run: RetentionRun,
    rule: RetentionRule,
    sql: RuleSql,
    links: list[ChildLink],
    sizer: SpanSizer,
    journal: sa.Table,
    progress: Progress | None,
    total: int,
    *,
    partition: Partition | None = None,
) -> tuple[int, int, dict[str, int]]:
    """The batch loop over the whole key index, or over one partition's range: (applied, batches, children)."""
    assert run.ledger is not None
    store = rule.table.store
    engine = run.stores.engine(store)
    master = run.settings.require_master_key()
    fingerprint = fingerprinter(master, f"{store}.{sql.table.name}")
    single = len(sql.pk) == 1
    ident = key_id(master)
    label = partition.label if partition is not None else None
    upper = partition.upper if partition is not None else None
    applied, batches = 0, 0
    children: dict[str, int] = {link.label: 0 for link in links}
    after: tuple[Any, ...] | None = partition.lower if partition is not None else None
    copied_at = time.monotonic()
    while True:
        batch_started = datetime.now(UTC)
        clock = time.monotonic()
        try:
            with engine.begin() as connection:
                prepare_operators(connection, sql)
                upto = span_end(connection, sql, after, sizer.size, within=upper)
                # The last span of a partition ends at its upper bound (None: the end of the index).
                last = upto is None
                if last:
                    upto = upper
                keys, counts = apply_span(connection, sql, links, after, upto, run.as_of)
                if keys:
                    # Leaves are keyed per table as the policy names it (``schema.table`` included).
                    leaves = (
                        leaves_of_scalars(master, store, rule.table.table, keys)
                        if single
                        else leaves_of(master, store, rule.table.table, keys)
                    )
                    record_batch(
                        connection, journal, run_id=run.run_id, flow=run.flow, rule=rule.name,
                        batch_no=batches + 1, action=rule.action, policy_hash=run.policy.hash,
                        counts=counts, leaves=leaves, key_id=ident,
                        span=(_end_print(fingerprint, after), _end_print(fingerprint, upto)),
                        started_at=batch_started, partition=label,
                    )  # fmt: skip
                    if _before_batch_commit is not None:
                        _before_batch_commit(batches + 1)
        except SQLAlchemyError as exc:
            raise store_error(rule, f"batch {batches + 1}", exc) from None
        sizer.update(sizer.size, time.monotonic() - clock)
        if keys:
            if _after_batch_commit is not None:
                _after_batch_commit(batches + 1)
            batches += 1
            applied += counts["rows"]
            for name, n in counts.items():
                if name != "rows":
                    children[name] = children.get(name, 0) + n
            if time.monotonic() - copied_at >= GROUP_COMMIT_SECONDS:
                transfer_pending(engine, store, run.ledger)
                copied_at = time.monotonic()
            if progress is not None:
                progress(applied, max(total, applied))
        if last:
            break
        after = upto
    return applied, batches, children


def _controller_pending(run: RetentionRun, rule: RetentionRule, sql: RuleSql) -> dict[str, int]:
    """Pending rows per controller label (empty without a controller column)."""
    if run.policy.controller_column(rule.table) is None:
        return {}
    try:
        with run.stores.engine(rule.table.store).connect() as connection:
            prepare_operators(connection, sql)
            counts = controller_counts(run, rule, sql, connection)
    except SQLAlchemyError as exc:
        raise store_error(rule, "counting per controller", exc) from None
    return {label: n["pending"] for label, n in counts.items()}


def _sizer(rule: RetentionRule, batch_size: int | None, bound: bool) -> SpanSizer:
    """The rule's span sizer: a fixed size when one is given, else adaptive (capped on key-bound paths)."""
    fixed = batch_size or rule.batch_size
    ceiling = KEY_BOUND_CEILING if bound else SpanSizer.ceiling
    if fixed:
        return SpanSizer(fixed=min(fixed, ceiling) if bound else fixed)
    target = rule.batch_seconds or SpanSizer.target
    return SpanSizer(target=target, ceiling=ceiling)


def _end_print(fingerprint: Callable[[object], str], end: tuple[Any, ...] | None) -> str | None:
    """A span end as a keyed fingerprint (None for an open end)."""
    if end is None:
        return None
    return fingerprint(end[0] if len(end) == 1 else "\x1f".join(map(str, end)))


def rule_entry(run: RetentionRun, result: RuleResult) -> LedgerEntry:
    """The ledger entry summing up a rule's enforcement."""
    return LedgerEntry(
        run_id=run.run_id,
        flow=run.flow,
        policy_hash=run.policy.hash,
        action=f"retention.{result.action}",
        outcome="completed" if result.remaining == 0 else "incomplete",
        started_at=result.started_at,
        ended_at=result.ended_at,
        rule=result.rule,
        counts={
            "applied": result.applied,
            "held": result.held,
            "batches": result.batches,
            "remaining": result.remaining,
            "recovered": result.recovered,
            **{f"children:{k}": v for k, v in result.children.items()},
            **{f"applied:{k}": v for k, v in result.partitions.items()},
            **{f"applied:{c}": n for c, n in result.by_controller.items()},
        },
        details={
            "table": result.table,
            "cutoff": result.cutoff.isoformat(),
            "as_of": run.as_of.isoformat(),
            **({"partitions": len(result.partitions)} if result.partitions else {}),
        },
    )
