"""The SQL of a retention rule: which rows are expired, exempt, already handled; how a batch is rewritten.

A row is *expired* when every anchor it has is before the cut-off: ``since: created_at`` compares one
column; ``latest_of`` also asks that no related row (found through a foreign key to this table) has a
timestamp at or after the cut-off, written as ``NOT EXISTS`` so each test uses the related table's
foreign-key index instead of aggregating it. A row with no anchor value at all is never expired (unknown
age is not old age). *Exempt* rows have a hold flag set; *handled* rows already hold anonymised values (or
their ``mark`` is set). *Pending* = expired, matching ``where``, not exempt, not handled.

A layer above retention may hold more rows back (``RequestHold``: the rows of subjects with an open access
request, ``lethe.requests.holds``): they count as exempt, so plans and the ledger count them as held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from lethe.errors import SchemaMismatchError
from lethe.operators import Operator, OperatorContext, get_operator
from lethe.policy.model import Policy, RetentionRule, TableRef
from lethe.retention.controllers import controller_cutoffs
from lethe.retention.where import where_param, where_value
from lethe.settings import Settings
from lethe.stores.dialects import cutoff_param
from lethe.stores.engines import Stores
from lethe.stores.schema import TableInfo, type_kind

Predicate = sa.ColumnElement[bool]
# Rows of the rule's table that something outside the table holds back (None: nothing), for one rule.
RequestHold = Callable[[RetentionRule, sa.Table], Predicate | None]


def reflect_table(stores: Stores, store: str, name: str) -> sa.Table:
    """A fully typed ``sa.Table`` of the store (types matter for binding cut-offs and values)."""
    return stores.sa_table(store, name)


@dataclass(frozen=True)
class ColumnRewrite:
    """One column of an anonymise rule: its operator, options and context."""

    column: str
    operator: type[Operator]
    options: Any
    context: OperatorContext


@dataclass
class RuleSql:
    """Predicates and statements of one rule at one cut-off."""

    rule: RetentionRule
    table: sa.Table
    pk: list[sa.Column[Any]]
    dialect: str
    cutoff: datetime
    expired: Predicate
    matches: Predicate
    exempt: Predicate | None
    handled: Predicate | None
    rewrites: list[ColumnRewrite]

    @property
    def pending(self) -> Predicate:
        """Rows the rule must still handle."""
        parts = [self.expired, *self.conditions]
        if self.exempt is not None:
            parts.append(sa.not_(self.exempt))
        if self.handled is not None:
            parts.append(sa.not_(self.handled))
        return sa.and_(*parts)

    @property
    def held(self) -> Predicate:
        """Expired rows kept back by an exemption."""
        if self.exempt is None:
            return sa.false()
        return sa.and_(self.expired, *self.conditions, self.exempt)

    @property
    def conditions(self) -> list[Predicate]:
        """``matches`` when the rule has conditions (a bare ``AND true`` is not folded on every engine)."""
        return [self.matches] if self.rule.where else []

    def key_in(self, keys: Sequence[tuple[Any, ...]]) -> Predicate:
        """Rows whose primary key is one of ``keys``."""
        if len(self.pk) == 1:
            return self.pk[0].in_([k[0] for k in keys])
        return sa.tuple_(*self.pk).in_(list(keys))

    @property
    def related_tables(self) -> set[str]:
        """Tables the anchor reads (``latest_of`` entries of related tables)."""
        return {ref.rpartition(".")[0] for ref in self.rule.anchor_columns if "." in ref}

    def after(self, last: tuple[Any, ...] | None) -> Predicate:
        """Rows after ``last`` in primary-key order (keyset pagination)."""
        if last is None:
            return sa.true()
        if len(self.pk) == 1:
            return self.pk[0] > last[0]
        return sa.tuple_(*self.pk) > sa.tuple_(*[sa.literal(v) for v in last])

    def upto(self, last: tuple[Any, ...] | None) -> Predicate:
        """Rows up to and including ``last`` in primary-key order (None: no upper bound)."""
        if last is None:
            return sa.true()
        if len(self.pk) == 1:
            return self.pk[0] <= last[0]
        return sa.tuple_(*self.pk) <= sa.tuple_(*[sa.literal(v) for v in last])

    def span(self, after: tuple[Any, ...] | None, upto: tuple[Any, ...] | None) -> Predicate:
        """Rows of the span ``after < pk <= upto`` (``lethe.retention.spans``); an open end is None."""
        parts = [p for p, end in ((self.after(after), after), (self.upto(upto), upto)) if end is not None]
        return sa.and_(*parts) if parts else sa.true()

    def next_keys(self, last: tuple[Any, ...] | None, size: int, *, lock: bool) -> sa.Select[Any]:
        """The next batch's primary keys, in key order, locked for update on servers."""
        query = sa.select(*self.pk).where(self.pending, self.after(last)).order_by(*self.pk).limit(size)
        return query.with_for_update() if lock and self.dialect != "sqlite" else query

    def values(self, as_of: datetime) -> dict[str, Any]:
        """SET clause of an anonymise batch computed inside the database."""
        values: dict[str, Any] = {
            r.column: r.operator.sql(r.options, self.table.c[r.column], self.pk, r.context)
            for r in self.rewrites
            if not r.operator.in_python(r.context)
        }
        if self.rule.mark:
            values[self.rule.mark] = sa.literal(as_of, self.table.c[self.rule.mark].type)
        return values

    @property
    def python_rewrites(self) -> list[ColumnRewrite]:
        """Columns whose new values are computed in Python."""
        return [r for r in self.rewrites if r.operator.in_python(r.context)]


def _column(rule: RetentionRule, table: sa.Table, name: str) -> sa.Column[Any]:
    """``table.c[name]``, or a SchemaMismatchError naming the rule (not a bare KeyError)."""
    try:
        return table.c[name]
    except KeyError:
        raise SchemaMismatchError(
            f"retention.{rule.name}: table {table.name} has no column {name!r}"
        ) from None


def _condition(rule: RetentionRule, column: sa.Column[Any], spec: Any, dialect: str, tz: str) -> Predicate:
    kind = type_kind(column.type)

    def bound(value: Any) -> Any:
        # Read as validation reads it (a date string becomes a date): validation reported what cannot be.
        try:
            return where_param(column, kind, where_value(kind, value, tz), dialect, tz)
        except ValueError as exc:
            raise SchemaMismatchError(f"retention.{rule.name}.where.{column.name}: {exc}") from None

    parts: list[Predicate] = []
    if spec.equals is not None:
        parts.append(column == bound(spec.equals))
    if spec.not_equals is not None:
        parts.append(sa.or_(column.is_(None), column != bound(spec.not_equals)))
    if spec.in_ is not None:
        parts.append(column.in_([bound(v) for v in spec.in_]))
    if spec.not_in is not None:
        parts.append(sa.or_(column.is_(None), column.not_in([bound(v) for v in spec.not_in])))
    if spec.is_null is not None:
        parts.append(column.is_(None) if spec.is_null else column.is_not(None))
    return sa.and_(*parts)


def flag_set(flag: sa.Column[Any]) -> Predicate:
    """True when a hold flag is set (boolean true, or a non-zero integer such as MariaDB's TINYINT)."""
    if isinstance(flag.type, sa.Boolean):
        return flag == sa.true()
    return sa.and_(flag.is_not(None), flag != 0)


def link_columns(
    policy: Policy, rule: RetentionRule, table: TableInfo, related: TableInfo
) -> tuple[str, str]:
    """``(column of related, column of table)`` tying a related row to a row of the rule's table.

    The one single-column foreign key from ``related`` to the table, or else the data map's
    ``subject_column`` of ``related`` when its subject lives in the table. Two foreign keys to the same table
    (``customer_id``, ``referrer_id``) are ambiguous: guessing could judge a customer by orders that are not
    theirs and delete or anonymise it, so the policy must say which (SchemaMismatchError otherwise).
    """
    keys = [fk for fk in related.foreign_keys if fk.ref_table == table.name and len(fk.columns) == 1]
    if len(keys) == 1:
        return keys[0].columns[0], keys[0].ref_columns[0]
    related_map = policy.table_map(TableRef(store=rule.table.store, table=related.name))
    if related_map and related_map.subject and related_map.subject_column:
        subject = policy.subjects[related_map.subject]
        if subject.store == rule.table.store and subject.table == table.name:
            return related_map.subject_column, subject.key
    if keys:
        names = ", ".join(fk.columns[0] for fk in keys)
        raise SchemaMismatchError(
            f"{related.name} has {len(keys)} foreign keys to {table.name} ({names}): say which one ties its "
            f"rows to {table.name} with data_map.{rule.table.store}.{related.name}.subject_column"
        )
    raise SchemaMismatchError(
        f"{related.name} has no foreign key to {table.name} (nor a data-map subject_column for it)"
    )


def _link(
    policy: Policy, stores: Stores, rule: RetentionRule, table: sa.Table, related: sa.Table, related_name: str
) -> Predicate:
    """How a related row points at a row of the rule's table (see ``link_columns``)."""
    store = rule.table.store
    try:
        mine, theirs = link_columns(
            policy, rule, stores.table(rule.table), stores.table(TableRef(store=store, table=related_name))
        )
    except SchemaMismatchError as exc:
        raise SchemaMismatchError(f"retention.{rule.name}: {exc}") from None
    return related.c[mine] == table.c[theirs]


def build_rule_sql(
    policy: Policy,
    stores: Stores,
    rule: RetentionRule,
    as_of: datetime,
    settings: Settings,
    hold: RequestHold | None = None,
) -> RuleSql:
    """Reflect the rule's tables and build its predicates at ``as_of``; ``hold`` adds rows held back."""
    store = rule.table.store
    engine = stores.engine(store)
    dialect = engine.dialect.name
    tz = policy.stores[store].timezone
    table = reflect_table(stores, store, rule.table.table)
    pk = list(table.primary_key.columns)
    if not pk:
        raise SchemaMismatchError(f"retention.{rule.name}: {table.name} has no primary key")
    # In UTC, so one instant gives one cut-off however it is spelled: calendar steps taken at +02:00 can land
    # on another day ("1 month" before 03-31T01:00+02:00 vs before 03-30T23:00Z), and steps in hours taken on
    # a ZoneInfo datetime would count wall-clock time across a daylight-saving change.
    cutoff = rule.after.cutoff(as_of.astimezone(UTC))

    related: dict[str, tuple[sa.Table, Predicate]] = {}
    for ref in rule.anchor_columns:
        related_name = ref.rpartition(".")[0]
        if related_name and related_name not in related:
            other = reflect_table(stores, store, related_name)
            related[related_name] = (other, _link(policy, stores, rule, table, other, related_name))

    def expired_before(cut: datetime) -> Predicate:
        """Rows every anchor of which is before ``cut``."""
        own: list[sa.Column[Any]] = []
        not_recent: list[Predicate] = []
        any_anchor: list[Predicate] = []
        for ref in rule.anchor_columns:
            related_name, _, column_name = ref.rpartition(".")
            if not related_name:
                column = _column(rule, table, column_name)
                own.append(column)
                older = column < cutoff_param(column, cut, dialect, tz)
                not_recent.append(sa.or_(column.is_(None), older) if column.nullable else older)
                any_anchor.append(column.is_not(None))
                continue
            other, link = related[related_name]
            column = _column(rule, other, column_name)
            recent = sa.select(sa.literal(1)).where(link, column >= cutoff_param(column, cut, dialect, tz))
            not_recent.append(~sa.exists(recent))
            any_anchor.append(sa.exists(sa.select(sa.literal(1)).where(link, column.is_not(None))))
        # When an own anchor can never be NULL the "has an anchor" test is always true: leave it out. With a
        # single anchor, "not recent and present" is just "older than the cut-off" (NULL compares as unknown).
        if len(not_recent) == 1 and own:
            return own[0] < cutoff_param(own[0], cut, dialect, tz)
        if not any(not c.nullable for c in own):
            not_recent.append(sa.or_(*any_anchor))
        return sa.and_(*not_recent)

    expired = expired_before(cutoff)
    controllers = controller_cutoffs(policy, stores, rule, table, as_of)
    if controllers is not None and controllers.special:
        # Processor mode: each controller with its own period is judged at its cut-off, the others at the rule's.
        owner = table.c[controllers.column]
        kind = type_kind(owner.type)

        def among(keys: list[Any]) -> Predicate:
            return owner.in_([where_param(owner, kind, k, dialect, tz) for k in keys])

        parts = [sa.and_(sa.or_(owner.is_(None), sa.not_(among(controllers.special))), expired)]
        parts += [sa.and_(among(keys), expired_before(cut)) for cut, keys in controllers.by_cutoff().items()]
        if controllers.ended:
            parts.append(among(controllers.ended))
        expired = sa.or_(*parts)

    conditions = [
        _condition(rule, _column(rule, table, name), spec, dialect, tz) for name, spec in rule.where.items()
    ]
    matches = sa.and_(*conditions) if conditions else sa.true()
    exempt: Predicate | None = None
    if rule.unless:
        exempt = sa.or_(*(flag_set(_column(rule, table, f)) for f in rule.unless))
    held_back = hold(rule, table) if hold is not None else None
    if held_back is not None:
        exempt = held_back if exempt is None else sa.or_(exempt, held_back)

    rewrites: list[ColumnRewrite] = []
    for name, action in rule.columns.items():
        _column(rule, table, name)  # a missing column is refused naming the rule
        info = stores.table(rule.table).column(name)
        context = OperatorContext(
            dialect=dialect,
            scope=f"{store}.{table.name}.{name}",
            column=info.shape,
            master_key=settings.master_key,
            key_version=settings.key_version,
            siv_key=settings.siv_key,
            tokens=policy.stores[store].tokens,
        )
        rewrites.append(ColumnRewrite(name, get_operator(action.operator), action.options, context))

    handled: Predicate | None = None
    if rule.action == "anonymise":
        if rule.mark:
            handled = _column(rule, table, rule.mark).is_not(None)
        else:
            # Operators count a NULL as applied themselves (it holds nothing to anonymise).
            tests = [r.operator.applied(r.options, table.c[r.column], r.context) for r in rewrites]
            known = [t for t in tests if t is not None]
            handled = sa.and_(*known) if known else None
    return RuleSql(rule, table, pk, dialect, cutoff, expired, matches, exempt, handled, rewrites)
