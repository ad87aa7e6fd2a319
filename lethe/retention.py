"""Retention: plan what is expired, then delete or anonymise it in short batches, verified afterwards.

``plan_rule`` counts; it changes nothing. ``enforce_rule`` works through the pending rows in primary-key
order, one transaction per batch: it locks the batch's keys, rewrites them with set-based SQL inside the
database (children first for deletes), and inserts the batch's journal row in the same transaction, so a
crash leaves each batch applied-and-journalled or untouched. After the commit the journal row is copied
into the evidence ledger (``lethe.journal``). Finally the rule is verified: no row may remain pending.
A run holds a per-rule lock that dies with its process, so two runs never work on one rule at once.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from lethe.crypto import fingerprinter
from lethe.dialects import exclusive_lock
from lethe.errors import LetheError, SchemaMismatchError, StoreError, TransientStoreError, VerificationError
from lethe.journal import ensure_journal, record_batch, transfer_pending
from lethe.ledger import Ledger, LedgerEntry
from lethe.operators.apply import prepare_rewrites, rewrite_in_python
from lethe.policy import Policy, RetentionRule
from lethe.policy_retention import DEFAULT_MAX_SHARE
from lethe.retention_cascade import ChildLink, child_links, count_children, delete_children
from lethe.retention_sql import RuleSql, build_rule_sql
from lethe.settings import Settings
from lethe.stores import Stores

DEFAULT_BATCH_SIZE = 5000
Progress = Callable[[int, int], None]

# Test-only hook points, None in production: called with the batch number just before a batch's transaction
# commits (its rows changed, its journal row inserted) and just after the commit (before the ledger copy).
# tests/retention_worker.py sets them in a child process to kill it there and prove crash safety.
_before_batch_commit: Callable[[int], None] | None = None
_after_batch_commit: Callable[[int], None] | None = None


@dataclass(frozen=True)
class RulePlan:
    """What a rule would do now: counts and a few primary keys, never values.

    ``share`` is ``pending`` over the table's ``rows``; above ``max_share`` the change is refused without an
    explicit approval (the CLI's ``--allow-large-share``, the flow's pause).
    """

    rule: str
    table: str
    action: str
    cutoff: datetime
    pending: int
    held: int
    children: dict[str, int]
    batch_size: int
    batches: int
    sample_keys: list[list[Any]]
    rows: int = 0
    share: float = 0.0
    max_share: float = DEFAULT_MAX_SHARE

    @property
    def too_large(self) -> bool:
        """True when the rule would change more than its share of the table."""
        return self.share > self.max_share


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


@dataclass
class RetentionRun:
    """One run over a policy: its id, instant, stores, keys and ledger."""

    policy: Policy
    stores: Stores
    settings: Settings
    as_of: datetime
    ledger: Ledger | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    flow: str = "retention"

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise LetheError("as_of must be timezone-aware (e.g. 2026-11-25T00:00:00+00:00)")

    def rules(self, names: Sequence[str] | None = None) -> list[RetentionRule]:
        """The policy's rules, or the named subset in policy order; unknown names are an error."""
        if not names:
            return list(self.policy.retention)
        known = {r.name for r in self.policy.retention}
        unknown = sorted(set(names) - known)
        if unknown:
            raise SchemaMismatchError(
                f"unknown retention rule(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return [r for r in self.policy.retention if r.name in set(names)]


def _batch_size(rule: RetentionRule, override: int | None) -> int:
    return override or rule.batch_size or DEFAULT_BATCH_SIZE


def _store_error(rule: RetentionRule, what: str, exc: SQLAlchemyError) -> StoreError:
    # The driver's own message may quote values (e.g. "Key (email)=(...) already exists"): keep its class only.
    detail = type(getattr(exc, "orig", None) or exc).__name__
    transient = isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    kind = TransientStoreError if transient else StoreError
    return kind(f"retention.{rule.name}: {what} failed ({detail})")


def plan_rule(
    run: RetentionRun,
    rule: RetentionRule,
    *,
    batch_size: int | None = None,
    sample: int = 5,
    max_share: float | None = None,
) -> RulePlan:
    """Count what ``rule`` would handle at ``run.as_of``; change nothing.

    ``max_share`` overrides the rule's own limit (``max_share:`` in the policy, default 50%).
    """
    sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings)
    links = child_links(run.stores, rule.table.store, sql.table) if rule.action == "delete" else []
    limit = max_share or rule.max_share or DEFAULT_MAX_SHARE
    return _count(run, rule, sql, links, _batch_size(rule, batch_size), sample, max_share=limit)


def _count(
    run: RetentionRun,
    rule: RetentionRule,
    sql: RuleSql,
    links: list[ChildLink],
    size: int,
    sample: int,
    *,
    children: bool = True,
    max_share: float = DEFAULT_MAX_SHARE,
) -> RulePlan:
    """The plan of a rule whose SQL is built (so enforcing reflects its tables once, not per count)."""
    engine = run.stores.engine(rule.table.store)
    # Pending, held and all rows in one pass over the table: on a large table each pass is most of a
    # count's cost, and the share guard must not add one.
    counts = sa.select(
        sa.func.sum(sa.case((sql.pending, 1), else_=0)),
        sa.func.sum(sa.case((sql.held, 1), else_=0)),
        sa.func.count(),
    ).select_from(sql.table)
    try:
        with engine.connect() as connection:
            _prepare(connection, sql)
            pending, held, rows = (int(n or 0) for n in connection.execute(counts).one())
            keys = connection.execute(sql.next_keys(None, sample, lock=False)).all() if sample else []
            parents = sa.select(*sql.pk).where(sql.pending)
            counted = count_children(connection, links, parents) if links and children else {}
    except SQLAlchemyError as exc:
        raise _store_error(rule, "planning", exc) from None
    return RulePlan(
        rule=rule.name,
        table=str(rule.table),
        action=rule.action,
        cutoff=sql.cutoff,
        pending=pending,
        held=held,
        children=counted,
        batch_size=size,
        batches=math.ceil(pending / size),
        sample_keys=[list(k) for k in keys],
        rows=rows,
        share=pending / rows if rows else 0.0,
        max_share=max_share,
    )


def _prepare(connection: sa.Connection, sql: RuleSql) -> None:
    """Let operators prepare the transaction: SQLite functions, pgcrypto, the keys their SQL names."""
    prepare_rewrites(connection, sql.rewrites)


def enforce_rule(
    run: RetentionRun,
    rule: RetentionRule,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
    expected: int | None = None,
) -> RuleResult:
    """Delete or anonymise the rule's pending rows in batches, journal and ledger each, then verify.

    ``progress(done, total)`` is called after each batch; ``total`` is ``expected`` (e.g. what the plan just
    counted), or the rule's pending rows counted first when it is None.
    """
    if run.ledger is None:
        raise LetheError("enforcing needs the evidence ledger (set LETHE_LEDGER_KEY)")
    started = datetime.now(UTC)
    store = rule.table.store
    engine = run.stores.engine(store)
    size = _batch_size(rule, batch_size)
    with exclusive_lock(engine, f"retention:{store}:{rule.name}"):
        # Built first: a rule that does not fit the schema fails before anything is written to the store.
        sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings)
        journal = ensure_journal(engine)
        # Batches a crashed run committed but did not get into the ledger go in first.
        recovered = transfer_pending(engine, store, run.ledger)
        links = child_links(run.stores, store, sql.table) if rule.action == "delete" else []
        fingerprint = fingerprinter(run.settings.require_master_key(), f"{store}.{sql.table.name}")
        # The total is only for progress reports; the verifying count after the run is what matters.
        total = expected or 0
        if progress is not None and expected is None:
            total = _count(run, rule, sql, links, size, sample=0, children=False).pending
        applied, batches = 0, 0
        children: dict[str, int] = {link.label: 0 for link in links}
        last: tuple[Any, ...] | None = None
        while True:
            batch_started = datetime.now(UTC)
            try:
                with engine.begin() as connection:
                    _prepare(connection, sql)
                    keys = [tuple(k) for k in connection.execute(sql.next_keys(last, size, lock=True)).all()]
                    if not keys:
                        break
                    counts = _apply_batch(connection, sql, links, keys, run.as_of)
                    record_batch(
                        connection, journal, run_id=run.run_id, flow=run.flow, rule=rule.name,
                        batch_no=batches + 1, action=rule.action, policy_hash=run.policy.hash, counts=counts,
                        fingerprints=[fingerprint(k[0] if len(k) == 1 else json.dumps(list(k))) for k in keys],
                        started_at=batch_started,
                    )  # fmt: skip
                    if _before_batch_commit is not None:
                        _before_batch_commit(batches + 1)
            except SQLAlchemyError as exc:
                raise _store_error(rule, f"batch {batches + 1}", exc) from None
            if _after_batch_commit is not None:
                _after_batch_commit(batches + 1)
            transfer_pending(engine, store, run.ledger)
            last = keys[-1]
            batches += 1
            applied += counts["rows"]
            for name, n in counts.items():
                if name != "rows":
                    children[name] = children.get(name, 0) + n
            if progress is not None:
                progress(applied, max(total, applied))
        if progress is not None and applied != total:
            # Fewer rows than expected (a retry resuming, rows changed since the plan): the report ends at 100%.
            progress(applied, applied)
        remaining = _count(run, rule, sql, links, size, sample=0, children=False)
    result = RuleResult(
        rule=rule.name, table=str(rule.table), action=rule.action, cutoff=sql.cutoff, applied=applied,
        held=remaining.held, children=children, batches=batches, remaining=remaining.pending,
        recovered=recovered, started_at=started, ended_at=datetime.now(UTC),
    )  # fmt: skip
    run.ledger.append(rule_entry(run, result))
    if remaining.pending:
        raise VerificationError(
            f"retention.{rule.name}: {remaining.pending} row(s) are still expired and not handled after the run"
        )
    return result


def _apply_batch(
    connection: sa.Connection,
    sql: RuleSql,
    links: list[ChildLink],
    keys: list[tuple[Any, ...]],
    as_of: datetime,
) -> dict[str, int]:
    """Rewrite or delete one batch of locked keys; return counts (rows, and per child table)."""
    where = sa.and_(sql.key_span(keys), sql.pending)
    if sql.rule.action == "delete":
        # Children are chosen through their parents' predicate unless that predicate reads a child table:
        # MariaDB refuses a DELETE whose subquery reads the table it deletes from (error 1093).
        reads_children = sql.related_tables & {name for link in links for name in _link_tables(link)}
        parents = sa.select(*sql.pk).where(sql.key_in(keys) if reads_children else where)
        counts = delete_children(connection, links, parents)
        rows = connection.execute(sa.delete(sql.table).where(where)).rowcount
    elif sql.python_rewrites:
        rows = _rewrite_in_python(connection, sql, keys, as_of)
        counts = {}
    else:
        rows = connection.execute(sa.update(sql.table).where(where).values(sql.values(as_of))).rowcount
        counts = {}
    if rows != len(keys):
        # The keys were locked as pending: anything else means a concurrent writer got in between.
        raise VerificationError(f"retention.{sql.rule.name}: batch changed {rows} rows, expected {len(keys)}")
    return {"rows": rows, **counts}


def _link_tables(link: ChildLink) -> list[str]:
    """The child table of a link and every table below it."""
    return [link.table.name, *(name for child in link.children for name in _link_tables(child))]


def _rewrite_in_python(
    connection: sa.Connection, sql: RuleSql, keys: list[tuple[Any, ...]], as_of: datetime
) -> int:
    """Rewrite a batch whose operators cannot run in the database: read, transform, write back by key."""
    return rewrite_in_python(
        connection, sql.table, sql.key_in(keys), sql.python_rewrites, sql.values(as_of), still=sql.pending
    )


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
        },
        details={"table": result.table, "cutoff": result.cutoff.isoformat(), "as_of": run.as_of.isoformat()},
    )


def plan_entry(run: RetentionRun, plans: Sequence[RulePlan], started: datetime) -> LedgerEntry:
    """The ledger entry of a dry run."""
    return LedgerEntry(
        run_id=run.run_id,
        flow=run.flow,
        policy_hash=run.policy.hash,
        action="retention.plan",
        outcome="planned",
        started_at=started,
        ended_at=datetime.now(UTC),
        counts={f"pending:{p.rule}": p.pending for p in plans} | {f"held:{p.rule}": p.held for p in plans},
        details={"as_of": run.as_of.isoformat(), "rules": len(plans)},
    )
