"""Planning a retention rule: what it would delete or anonymise now, counted in one pass; nothing changes.

A plan carries counts (pending, held, the table's rows and the share a rule would change, child rows a delete
would remove or detach) and a few primary keys, never values. ``plan_entry`` records a dry run in the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import RetentionRule
from lethe.policy.retention import DEFAULT_MAX_SHARE
from lethe.retention.cascade import ChildLink, child_links, count_children
from lethe.retention.controllers import controller_labeller, counts_by_controller
from lethe.retention.run import RetentionRun, prepare_operators, rows_per_batch, store_error
from lethe.retention.sql import RuleSql, build_rule_sql


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
    # Processor mode: {controller label: {"pending": n, "held": n}} (lethe.retention.controllers)
    by_controller: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def too_large(self) -> bool:
        """True when the rule would change more than its share of the table."""
        return self.share > self.max_share


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
    sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings, run.holds)
    links = child_links(run.stores, rule.table.store, sql.table) if rule.action == "delete" else []
    limit = max_share or rule.max_share or DEFAULT_MAX_SHARE
    return count_rule(run, rule, sql, links, rows_per_batch(rule, batch_size), sample, max_share=limit)


def count_rule(
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
            prepare_operators(connection, sql)
            pending, held, rows = (int(n or 0) for n in connection.execute(counts).one())
            keys = connection.execute(sql.next_keys(None, sample, lock=False)).all() if sample else []
            parents = sa.select(*sql.pk).where(sql.pending)
            counted = count_children(connection, links, parents) if links and children else {}
            by_controller = controller_counts(run, rule, sql, connection) if children else {}
    except SQLAlchemyError as exc:
        raise store_error(rule, "planning", exc) from None
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
        by_controller=by_controller,
    )


def controller_counts(
    run: RetentionRun, rule: RetentionRule, sql: RuleSql, connection: sa.Connection
) -> dict[str, dict[str, int]]:
    """Pending and held rows per controller, when the rule's table has a controller column (else empty)."""
    column = run.policy.controller_column(rule.table)
    if column is None or column not in sql.table.c:
        return {}
    label = controller_labeller(run.policy, run.settings.master_key, rule.table.store)
    return counts_by_controller(
        connection, sql.table, column, {"pending": sql.pending, "held": sql.held}, label
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
        counts={f"pending:{p.rule}": p.pending for p in plans}
        | {f"held:{p.rule}": p.held for p in plans}
        | {f"{k}:{p.rule}:{c}": n for p in plans for c, b in p.by_controller.items() for k, n in b.items()},
        details={"as_of": run.as_of.isoformat(), "rules": len(plans)},
    )
