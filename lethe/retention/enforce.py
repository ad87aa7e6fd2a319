"""Enforcing a retention rule: delete or anonymise its pending rows in short batches, verified afterwards.

``enforce_rule`` works through the pending rows in primary-key
order, one transaction per batch: it locks the batch's keys, rewrites them with set-based SQL inside the
database (children first for deletes), and inserts the batch's journal row in the same transaction, so a
crash leaves each batch applied-and-journalled or untouched. After the commit the journal row is copied
into the evidence ledger (``lethe.ledger.journal``). Finally the rule is verified: no row may remain pending.
A run holds a per-rule lock that dies with its process, so two runs never work on one rule at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprinter
from lethe.errors import LetheError, VerificationError
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.journal import ensure_journal, record_batch, transfer_pending
from lethe.operators.apply import rewrite_in_python
from lethe.policy.model import RetentionRule
from lethe.retention.cascade import ChildLink, child_links, delete_children
from lethe.retention.plan import count_rule
from lethe.retention.run import Progress, RetentionRun, prepare_operators, rows_per_batch, store_error
from lethe.retention.sql import RuleSql, build_rule_sql
from lethe.stores.dialects import exclusive_lock

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
    size = rows_per_batch(rule, batch_size)
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
            total = count_rule(run, rule, sql, links, size, sample=0, children=False).pending
        applied, batches = 0, 0
        children: dict[str, int] = {link.label: 0 for link in links}
        last: tuple[Any, ...] | None = None
        while True:
            batch_started = datetime.now(UTC)
            try:
                with engine.begin() as connection:
                    prepare_operators(connection, sql)
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
                raise store_error(rule, f"batch {batches + 1}", exc) from None
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
        remaining = count_rule(run, rule, sql, links, size, sample=0, children=False)
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
