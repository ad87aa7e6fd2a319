"""The blast-radius guard of retention: a rule that would change a large share of its table needs approval.

A wrong period, anchor or ``--as-of`` turns "delete what expired" into "delete the table". ``plan_rule``
counts the table's rows in the same pass that counts pending and held rows, so each plan knows its
``share``; a share above the rule's ``max_share`` (policy, CLI ``--max-share`` or flow parameter; default
50%) is refused by ``lethe retention enforce`` without ``--allow-large-share`` and pauses the retention flow
for an operator's approval.
"""

from __future__ import annotations

from collections.abc import Sequence

from lethe.retention.plan import RulePlan


def large_changes(plans: Sequence[RulePlan]) -> list[str]:
    """One line per plan that would change more than its share of its table: what the guards refuse."""
    return [
        f"retention.{p.rule} would change {p.share:.1%} of {p.table} ({p.pending:,} of {p.rows:,} rows), "
        f"more than its limit of {p.max_share * 100:g}%"
        for p in plans
        if p.too_large
    ]
