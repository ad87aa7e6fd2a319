"""Checks of retention rules against the live schema, for ``lethe validate`` and before enforcing.

A rule's table needs a primary key (rules work in key batches); anchors must be dates or timestamps, related
ones reachable through one foreign key (or a declared ``subject_column``); ``where`` values must fit their
columns' types; hold flags must be boolean; each operator must be able to write its column.
"""

from __future__ import annotations

from lethe.errors import SchemaMismatchError
from lethe.operators import get_operator
from lethe.policy.model import Policy, RetentionRule, TableRef
from lethe.retention.sql import link_columns
from lethe.retention.where import condition_values, expected, shown, where_value
from lethe.stores.checks import SchemaCheck
from lethe.stores.schema import TableInfo

TIME_KINDS = frozenset({"date", "datetime"})


def check_rule(policy: Policy, rule: RetentionRule, check: SchemaCheck) -> None:
    """A rule fits its table: key, anchors, conditions, hold flags, mark, and operators able to write."""
    where = f"retention.{rule.name}"
    table = check.table(rule.table, where)
    if table is None:
        return
    if not table.primary_key:
        check.add(
            "error",
            "no-primary-key",
            where,
            f"table {table.name} has no primary key: rules work in key batches",
        )
    for ref in rule.anchor_columns:
        _check_anchor(policy, rule, table, ref, check)
    _check_where(policy, rule, table, check)
    check.hold_flags(table, rule.unless, f"{where}.unless")
    if rule.mark and check.columns(table, [rule.mark], f"{where}.mark"):
        mark = table.columns[rule.mark]
        if mark.kind not in TIME_KINDS:
            check.add(
                "error", "mark-not-timestamp", f"{where}.mark", f"mark column {rule.mark} is {mark.kind}"
            )
    for column, action in rule.columns.items():
        place = f"{where}.columns.{column}"
        if not check.columns(table, [column], place):
            continue
        if column in table.primary_key:
            check.add("error", "anonymise-key", place, f"{column} is part of the primary key of {table.name}")
            continue
        operator = get_operator(action.operator)
        problem = operator.check(action.options, table.columns[column].shape)
        if problem:
            check.add("error", "operator-cannot-write", place, f"{table.name}.{column}: {problem}")


def _check_where(policy: Policy, rule: RetentionRule, table: TableInfo, check: SchemaCheck) -> None:
    """Each ``where`` column exists and each value fits its type (``closed_at: not-a-date`` does not)."""
    timezone = policy.stores[rule.table.store].timezone
    for name, spec in rule.where.items():
        place = f"retention.{rule.name}.where.{name}"
        if not check.columns(table, [name], place):
            continue
        column = table.columns[name]
        for key, value in condition_values(spec):
            try:
                where_value(column.kind, value, timezone)
            except ValueError:
                check.add(
                    "error", "where-value-type", place,
                    f"{key} {shown(value)} does not fit {table.name}.{name} ({column.sql_type}): "
                    f"expected {expected(column.kind)}",
                )  # fmt: skip


def _check_anchor(
    policy: Policy, rule: RetentionRule, table: TableInfo, ref: str, check: SchemaCheck
) -> None:
    where = f"retention.{rule.name}.since"
    related, _, column = ref.rpartition(".")
    if not related:
        target = table
    else:
        target_or_none = check.table(TableRef(store=rule.table.store, table=related), where)
        if target_or_none is None:
            return
        target = target_or_none
        try:
            link_columns(policy, rule, table, target)
        except SchemaMismatchError as exc:
            check.add("error", "anchor-unrelated", where, str(exc))
    if check.columns(target, [column], where):
        kind = target.columns[column].kind
        if kind not in TIME_KINDS:
            check.add(
                "error", "anchor-not-timestamp", where, f"anchor {ref} is {kind}, not a date or timestamp"
            )
