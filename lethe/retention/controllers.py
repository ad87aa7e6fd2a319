"""Retention per controller (processor mode, Art. 28(3)(g)): each controller's cut-off, and counts per controller.

A rule on a table with a controller column may give some controllers their own period: ``per_controller:``
in the policy, or the ``processor.contracts`` table (``contract_periods: true``), whose rows give a period
(replacing ``after:``) and/or the end of the agreed retention (from then on every row of that controller is
expired). The contracts table is small (one row per controller): it is read once when the rule's SQL is
built, and the rule's predicate then compares each row's controller with the few distinct cut-offs, so the
selection of expired rows stays one set-based statement in the database. The policy's own periods win over
the table's.

Labels: a declared controller is shown by its name in the policy; a value declared nowhere by a keyed
fingerprint (``undeclared`` without a master key); rows without a controller as ``(none)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprinter
from lethe.errors import SchemaMismatchError, StoreError
from lethe.policy.model import Policy, RetentionRule
from lethe.policy.periods import parse_period
from lethe.retention.where import where_value
from lethe.stores.engines import Stores
from lethe.stores.schema import type_kind

NO_CONTROLLER = "(none)"


@dataclass(frozen=True)
class ControllerCutoffs:
    """Cut-offs of the controllers with their own period, and controllers whose agreed retention ended.

    Keys are the controller column's values as that column compares them.
    """

    column: str
    cutoffs: dict[Any, datetime] = field(default_factory=dict)
    ended: list[Any] = field(default_factory=list)

    @property
    def special(self) -> list[Any]:
        """Every controller not judged by the rule's own period."""
        return [*self.cutoffs, *self.ended]

    def by_cutoff(self) -> dict[datetime, list[Any]]:
        """Controllers grouped by cut-off (few groups, so the predicate stays short)."""
        groups: dict[datetime, list[Any]] = defaultdict(list)
        for key, cutoff in self.cutoffs.items():
            groups[cutoff].append(key)
        return dict(groups)


def _key(kind: Any, value: Any, tz: str, where: str) -> Any:
    """A controller key as the data's controller column compares it."""
    try:
        return where_value(kind, value, tz)
    except ValueError as exc:
        raise SchemaMismatchError(
            f"{where}: a controller key does not fit the controller column ({exc})"
        ) from None


def controller_cutoffs(
    policy: Policy, stores: Stores, rule: RetentionRule, table: sa.Table, as_of: datetime
) -> ControllerCutoffs | None:
    """The controllers of ``rule`` with their own cut-off at ``as_of``; None when the rule has none."""
    column_name = policy.controller_column(rule.table)
    if column_name is None or not (rule.per_controller or rule.contract_periods):
        return None
    if column_name not in table.c:
        raise SchemaMismatchError(
            f"retention.{rule.name}: table {table.name} has no controller column {column_name!r}"
        )
    tz = policy.stores[rule.table.store].timezone
    kind = type_kind(table.c[column_name].type)
    as_of = as_of.astimezone(UTC)
    cutoffs: dict[Any, datetime] = {}
    ended: list[Any] = []
    if rule.contract_periods:
        contracts = read_contracts(policy, stores, as_of)
        for raw, (contract_cutoff, ends) in contracts.items():
            key = _key(kind, raw, tz, f"retention.{rule.name}")
            if ends is not None and ends <= as_of:
                ended.append(key)
            elif contract_cutoff is not None:
                cutoffs[key] = contract_cutoff
    for name, period in rule.per_controller.items():
        key = _key(kind, policy.processor.key_of(name), tz, f"retention.{rule.name}.per_controller.{name}")
        if key not in ended:
            cutoffs[key] = period.cutoff(as_of)
    return ControllerCutoffs(column_name, cutoffs, ended)


def read_contracts(
    policy: Policy, stores: Stores, as_of: datetime
) -> dict[Any, tuple[datetime | None, datetime | None]]:
    """``{controller: (cut-off from its period, end of its agreed retention)}`` from the contracts table.

    Refuses (SchemaMismatchError, nothing changed) a missing column, a period that cannot be read, an end that
    is not a date, or two rows for one controller; messages count rows and never quote a controller.
    """
    spec = policy.processor.contracts
    if spec is None:
        raise SchemaMismatchError("processor.contracts: no contracts table declared")
    where = f"processor.contracts ({spec.table})"
    table = stores.sa_table(spec.table.store, spec.table.table)
    names = [spec.controller, spec.period, spec.ends]
    missing = [n for n in names if n is not None and n not in table.c]
    if missing:
        raise SchemaMismatchError(f"{where}: no column {', '.join(map(repr, missing))}")
    tz = policy.stores[spec.table.store].timezone
    columns = [table.c[n] if n is not None else sa.null() for n in names]
    try:
        with stores.engine(spec.table.store).connect() as connection:
            rows = connection.execute(sa.select(*columns)).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"{where}: cannot read ({type(exc).__name__})") from None
    result: dict[Any, tuple[datetime | None, datetime | None]] = {}
    bad_periods = bad_ends = duplicates = 0
    for controller, period_text, ends in rows:
        if controller is None:
            continue
        cutoff: datetime | None = None
        if period_text is not None:
            try:
                cutoff = parse_period(str(period_text)).cutoff(as_of)
            except ValueError:
                bad_periods += 1
        end = _instant(ends, tz)
        if ends is not None and end is None:
            bad_ends += 1
        if controller in result:
            duplicates += 1
        result[controller] = (cutoff, end)
    problems = [
        f"{n} row(s) {what}"
        for n, what in (
            (bad_periods, f"whose {spec.period} is not a period such as '90 days' or 'P1Y'"),
            (bad_ends, f"whose {spec.ends} is not a date or timestamp"),
            (duplicates, "repeating a controller (one row per controller)"),
        )
        if n
    ]
    if problems:
        raise SchemaMismatchError(f"{where}: {'; '.join(problems)}")
    return result


def _instant(value: Any, tz: str) -> datetime | None:
    """A date or timestamp (naive ones in the store's zone) as an aware instant; None when unreadable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(tz))
    if isinstance(value, date):
        return datetime.combine(value, time(), ZoneInfo(tz))
    return None


def controller_labeller(policy: Policy, master: bytes | None, store: str) -> Callable[[Any], str]:
    """How counts per controller name a controller: declared name, keyed fingerprint, or ``(none)``."""
    declared = {str(policy.processor.key_of(n)): n for n in policy.processor.controllers}
    fingerprint = fingerprinter(master, f"{store}.controller") if master is not None else None

    def label(value: Any) -> str:
        if value is None:
            return NO_CONTROLLER
        name = declared.get(str(value))
        if name is not None:
            return name
        return fingerprint(value) if fingerprint is not None else "undeclared"

    return label


def counts_by_controller(
    connection: sa.Connection,
    table: sa.Table,
    column: str,
    counted: dict[str, sa.ColumnElement[bool]],
    label: Callable[[Any], str],
) -> dict[str, dict[str, int]]:
    """``{controller label: {name: rows}}`` of each predicate of ``counted``, in one grouped pass.

    Controllers with no row in any predicate are left out.
    """
    controller = table.c[column]
    sums = [sa.func.sum(sa.case((p, 1), else_=0)) for p in counted.values()]
    query = sa.select(controller, *sums).select_from(table).group_by(controller)
    result: dict[str, dict[str, int]] = {}
    for value, *numbers in connection.execute(query):
        values = [int(n or 0) for n in numbers]
        if any(values):
            bucket = result.setdefault(label(value), dict.fromkeys(counted, 0))
            for name, n in zip(counted, values, strict=True):
                bucket[name] += n
    return result
