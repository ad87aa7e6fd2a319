"""What erasing one subject would do (Art. 17): per table of the subject graph, its rows, action and reason.

``prepare_erasure`` reflects the subject graph once and checks the policy's erasure settings against it
(``lethe.requests.validation``: among others, that every declared personal column is deleted, rewritten or
kept with a ground), refusing before anything changes; ``plan_erasure`` counts one subject's rows per
table, the rows of other tables that deleting them would detach (a nullable foreign key set to NULL), and
the hold flags that block the erasure (Art. 17(3)(e)). Planning changes nothing.

The subject's rows are selected by *predicates with values*: the identity row by its key, a direct child by
``fk = key``, a deeper table by ``fk IN (keys of the parent's rows)``, the parent's keys read first. A
subject is small, so the lists are short; and MariaDB cannot semi-join a single-table ``UPDATE``/``DELETE``
with ``IN (SELECT ...)`` before 11.1 (it scans the whole table instead), so statements get values, not
subqueries. Long lists (over ``MAX_LITERAL_KEYS``) fall back to the subquery, and so does a kept table,
which is only counted (a SELECT, which MariaDB semi-joins), saving a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import SchemaMismatchError, StoreError
from lethe.ledger.entry import LedgerEntry
from lethe.operators import OperatorContext, get_operator
from lethe.policy.model import Policy
from lethe.requests.lookup import token_lookup
from lethe.requests.subjects import SubjectGraph, SubjectTable, build_graph, find_subject_key, unreachable
from lethe.requests.tracking import key_fingerprint
from lethe.requests.validation import check_subject_requests, erasure_action
from lethe.retention.cascade import ChildLink, child_links, count_children
from lethe.retention.sql import ColumnRewrite
from lethe.settings import Settings
from lethe.stores.checks import SchemaCheck
from lethe.stores.engines import Stores

ERASURE_FLOW = "erasure"
HOLD_REASON = "Art. 17(3)(e) legal claims / legal hold"
MAX_LITERAL_KEYS = 1000
Predicate = sa.ColumnElement[bool]


@dataclass(frozen=True)
class Hold:
    """A hold flag set on the subject, and why it blocks erasure."""

    flag: str
    reason: str


@dataclass(frozen=True)
class ErasureTable:
    """One table of the subject graph with what erasure does to it."""

    entry: SubjectTable
    table: sa.Table
    action: str  # delete | anonymise | keep
    reason: str | None
    rewrites: tuple[ColumnRewrite, ...] = ()
    links: tuple[ChildLink, ...] = ()  # foreign keys pointing at a deleted table

    @property
    def name(self) -> str:
        """``store.table``."""
        return f"{self.entry.store}.{self.entry.table}"

    @property
    def key(self) -> list[sa.Column[Any]]:
        """The primary-key columns."""
        return list(self.table.primary_key.columns)


@dataclass
class ErasureSetup:
    """The reflected graph of one kind of subject and the erasure settings bound to it; reusable."""

    policy: Policy
    stores: Stores
    settings: Settings
    subject: str
    graph: SubjectGraph
    tables: list[ErasureTable] = field(default_factory=list)
    ensured: set[str] = field(default_factory=set)  # stores whose operators' needs (pgcrypto) were checked
    memo: dict[str, Any] = field(
        default_factory=dict
    )  # SQL built once per table (lethe.requests.erasure.apply)

    @property
    def identity(self) -> ErasureTable:
        """The identity table (first in graph order)."""
        return self.tables[0]

    def in_store(self, store: str) -> list[ErasureTable]:
        """The store's tables in graph order (parents before children)."""
        return [t for t in self.tables if t.entry.store == store]

    def store_order(self) -> list[str]:
        """The subject's stores, the identity store last (its transaction encloses the others)."""
        identity = self.identity.entry.store
        others = sorted({t.entry.store for t in self.tables} - {identity})
        return [*others, identity]


def prepare_erasure(policy: Policy, stores: Stores, settings: Settings, subject: str) -> ErasureSetup:
    """Reflect the subject's graph and check its erasure settings; raise SchemaMismatchError on errors."""
    graph = build_graph(policy, stores, subject)
    check = SchemaCheck(stores)
    check_subject_requests(policy, subject, check)
    for ref in unreachable(policy, graph):  # `lethe validate` reports these as subject-unreachable
        check.add(
            "error", "subject-unreachable", f"data_map.{ref}",
            "declared for the subject, but no foreign-key path (nor subject_column) reaches it: "
            "erasure would leave its rows",
        )  # fmt: skip
    errors = [f for f in check.findings if f.severity == "error"]
    if errors:
        raise SchemaMismatchError(
            f"the erasure settings of {subject} do not fit the database:\n"
            + "\n".join(f"  {f.where}: {f.message}" for f in errors)
        )
    setup = ErasureSetup(policy, stores, settings, subject, graph)
    # One reflection per store for all its tables (MetaData.reflect batches the catalogue queries).
    reflected: dict[str, sa.MetaData] = {}
    for store in {e.store for e in graph.tables}:
        reflected[store] = sa.MetaData()
        names = [e.table for e in graph.tables if e.store == store]
        reflected[store].reflect(stores.engine(store), only=names, resolve_fks=False)
    for entry in graph.tables:
        spec = graph.definition.erasure.tables.get(entry.ref)
        action = erasure_action(graph, entry.store, entry.table)
        table = reflected[entry.store].tables[entry.table]
        rewrites: tuple[ColumnRewrite, ...] = ()
        if spec is not None and action == "anonymise":
            rewrites = tuple(_rewrite(setup, entry, table, name, spec.columns[name]) for name in spec.columns)
        links = tuple(child_links(stores, entry.store, table)) if action == "delete" else ()
        reason = spec.reason if spec is not None else None
        if spec is not None and spec.keep:  # each column kept unchanged, with its ground, on the receipt
            reason = f"{reason}; kept: {spec.kept_grounds()}"
        setup.tables.append(ErasureTable(entry, table, action, reason, rewrites, links))
    return setup


def _rewrite(
    setup: ErasureSetup, entry: SubjectTable, table: sa.Table, name: str, spec: Any
) -> ColumnRewrite:
    """A column's operator in the very context retention uses (same scope, so the same tokens)."""
    info = setup.stores.table(entry.ref).column(name)
    settings = setup.settings
    context = OperatorContext(
        dialect=setup.stores.engine(entry.store).dialect.name, scope=f"{entry.store}.{table.name}.{name}",
        column=info.shape, master_key=settings.master_key, key_version=settings.key_version,
        siv_key=settings.siv_key, tokens=setup.policy.stores[entry.store].tokens,
    )  # fmt: skip
    return ColumnRewrite(name, get_operator(spec.operator), spec.options, context)


# ------------------------------------------------------------------------------------------- predicates


def subject_predicates(
    connection: sa.Connection, setup: ErasureSetup, store: str, key: Any
) -> dict[str, Predicate]:
    """Per table of ``store`` (by ``store.table``), the predicate of the subject's rows, with values."""
    identity = setup.graph.definition
    predicates: dict[str, Predicate] = {}
    by_table = {t.entry.table: t for t in setup.in_store(store)}
    for item in setup.in_store(store):
        entry, table = item.entry, item.table
        if entry.by_value is not None:
            predicates[item.name] = table.c[entry.by_value] == key
        elif not entry.hops:
            predicates[item.name] = table.c[identity.key] == key
        else:
            hop = entry.hops[0]
            parent = by_table[hop.parent]
            column = table.c[hop.column]
            if parent is setup.identity and hop.parent_column == identity.key:
                predicates[item.name] = column == key
                continue
            source = sa.select(parent.table.c[hop.parent_column]).where(predicates[parent.name])
            if item.action == "keep":  # only counted, never written: a subquery saves reading the values
                predicates[item.name] = column.in_(source)
                continue
            values = [
                v for v in connection.execute(source.limit(MAX_LITERAL_KEYS + 1)).scalars() if v is not None
            ]
            # Long lists: the subquery instead (slow on MariaDB, but a subject with so many rows is rare).
            predicates[item.name] = column.in_(source if len(values) > MAX_LITERAL_KEYS else values)
    return predicates


def held_flags(connection: sa.Connection, setup: ErasureSetup, key: Any) -> list[Hold]:
    """The identity row's hold flags that are set."""
    identity = setup.identity
    flags = setup.graph.definition.erasure.unless
    columns = [identity.table.c[f] for f in flags] or [identity.table.c[setup.graph.definition.key]]
    query = sa.select(*columns).where(identity.table.c[setup.graph.definition.key] == key)
    row = connection.execute(query).first()
    if row is None or not flags:
        return []
    return [Hold(flag, HOLD_REASON) for flag, value in zip(flags, row, strict=True) if value]


def resolve_key(
    setup: ErasureSetup, identifier: str, connection: sa.Connection | None = None, *, tokens: bool = True
) -> Any:
    """``subjects.resolve_subject`` on the setup's reflected identity table: no reflection per request.

    A lookup column also matches the ``hmac`` tokens the policy writes into it (a subject pseudonymised by
    retention is found by its old email); ``tokens=False`` compares the identifier in clear only.
    """
    table = setup.identity.table
    lookup = token_lookup(setup.policy, setup.settings, setup.subject, table.name) if tokens else None
    return find_subject_key(
        setup.stores, setup.subject, setup.graph.definition, table, identifier, connection, tokens=lookup
    )


# ------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class TablePlan:
    """What erasure does (or did) to one table: the subject's rows, the action and its legal ground."""

    table: str
    action: str
    rows: int
    reason: str | None = None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ErasurePlan:
    """What erasing one subject would do; nothing has been changed."""

    subject: str
    key_fingerprint: str
    tables: tuple[TablePlan, ...]
    detached: dict[str, int]  # other tables' rows whose nullable key to a deleted row becomes NULL
    blocked: tuple[Hold, ...]


def plan_erasure(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    setup: ErasureSetup | None = None,
) -> ErasurePlan:
    """Resolve the subject and count what erasing it would do (SubjectError when not found or ambiguous)."""
    setup = setup or prepare_erasure(policy, stores, settings, subject)
    key = resolve_key(setup, identifier)
    return plan_for_key(setup, key, key_fingerprint(policy, settings, subject, key))


def count_rows(connection: sa.Connection, probes: dict[str, tuple[sa.Table, Predicate]]) -> dict[str, int]:
    """``count(*)`` of several (table, predicate) pairs in one round trip."""
    if not probes:
        return {}
    counts = [
        sa.select(sa.func.count()).select_from(table).where(where).scalar_subquery().label(f"n{i}")
        for i, (table, where) in enumerate(probes.values())
    ]
    row = connection.execute(sa.select(*counts)).one()
    return {label: int(n) for label, n in zip(probes, row, strict=True)}


def plan_for_key(setup: ErasureSetup, key: Any, fingerprint: str, *, count: bool = True) -> ErasurePlan:
    """Count the subject's rows per table, the rows deletes would detach, and the hold flags set.

    Without ``count`` nothing is read (rows 0, no holds): enough to start an erasure nobody confirms, which
    reads the holds itself under a lock.
    """
    tables = {
        t.name: TablePlan(t.name, t.action, 0, t.reason, tuple(r.column for r in t.rewrites))
        for t in setup.tables
    }
    detached: dict[str, int] = {}
    blocked: list[Hold] = []
    for store in setup.store_order() if count else ():
        try:
            with setup.stores.engine(store).connect() as connection:
                if store == setup.identity.entry.store:
                    blocked = held_flags(connection, setup, key)
                predicates = subject_predicates(connection, setup, store, key)
                items = setup.in_store(store)
                rows = count_rows(connection, {t.name: (t.table, predicates[t.name]) for t in items})
                for item in items:
                    tables[item.name] = replace(tables[item.name], rows=rows[item.name])
                    if not (item.links and rows[item.name]):
                        continue
                    parents = sa.select(*item.key).where(predicates[item.name])
                    for label, n in count_children(connection, list(item.links), parents).items():
                        if label.endswith("(detach)") and n:
                            name = f"{store}.{label.removesuffix(' (detach)')}"
                            detached[name] = detached.get(name, 0) + n
        except SQLAlchemyError as exc:
            raise StoreError(f"store {store}: planning the erasure failed ({type(exc).__name__})") from None
    return ErasurePlan(setup.subject, fingerprint, tuple(tables.values()), detached, tuple(blocked))


# ------------------------------------------------------------------------------------------- receipt


TableReceipt = TablePlan  # what a run did to a table: the same fields, rows counted by the run


@dataclass(frozen=True)
class ErasureReceipt:
    """What was erased, what was kept and why, and whether the erasure was verified."""

    subject: str
    key_fingerprint: str
    outcome: str
    dry_run: bool
    tables: tuple[TableReceipt, ...]
    detached: dict[str, int]
    blocked: tuple[Hold, ...]
    verified: bool
    checks: tuple[str, ...]
    run_id: str
    request_id: str | None
    started_at: datetime
    ended_at: datetime

    @property
    def kept(self) -> tuple[TableReceipt, ...]:
        """Tables kept or only anonymised, with their reasons."""
        return tuple(t for t in self.tables if t.action != "delete")

    @property
    def erased(self) -> tuple[TableReceipt, ...]:
        """Tables whose rows of the subject were deleted."""
        return tuple(t for t in self.tables if t.action == "delete")


def make_receipt(
    plan: ErasurePlan,
    outcome: str,
    *,
    dry_run: bool,
    run_id: str,
    request_id: str | None,
    started: datetime,
    rows: dict[str, int] | None = None,
    detached: dict[str, int] | None = None,
    checks: tuple[str, ...] = (),
    verified: bool = False,
) -> ErasureReceipt:
    """The receipt of a run: the plan's counts, or with ``rows`` what a real run changed."""
    tables = [
        TableReceipt(t.table, t.action, t.rows if rows is None else rows.get(t.table, 0), t.reason, t.columns)
        for t in plan.tables
    ]
    if rows is not None:  # tables outside the graph that lost rows with a deleted parent
        known = {t.table for t in plan.tables}
        tables += [
            TableReceipt(name, "delete", n, "deleted with its parent (NOT NULL foreign key)")
            for name, n in rows.items()
            if name not in known
        ]
    return ErasureReceipt(
        subject=plan.subject, key_fingerprint=plan.key_fingerprint, outcome=outcome, dry_run=dry_run,
        tables=tuple(tables), detached=dict(detached if detached is not None else plan.detached),
        blocked=plan.blocked, verified=verified, checks=checks,
        run_id=run_id, request_id=request_id, started_at=started, ended_at=datetime.now(UTC),
    )  # fmt: skip


def receipt_entry(
    policy: Policy, receipt: ErasureReceipt, action: str, error: str | None = None
) -> LedgerEntry:
    """The ledger entry of a receipt: counts per table, kept tables' reasons, the key's fingerprint.

    ``error`` names the class of the error a failed run was rolled back for."""
    counts = {f"{t.action}:{t.table}": t.rows for t in receipt.tables}
    counts |= {f"detach:{name}": n for name, n in receipt.detached.items()}
    details: dict[str, str | int | bool | None] = {
        "subject": receipt.subject,
        "request": receipt.request_id,
        "verified": receipt.verified,
        "kept": ",".join(t.table for t in receipt.kept) or None,
        "blocked": ",".join(h.flag for h in receipt.blocked) or None,
    }
    if error is not None:
        details["error"] = error
    details |= {f"reason:{t.table}": t.reason for t in receipt.kept}
    return LedgerEntry(
        run_id=receipt.run_id, flow=ERASURE_FLOW, policy_hash=policy.hash, action=action,
        outcome=receipt.outcome, started_at=receipt.started_at, ended_at=receipt.ended_at, counts=counts,
        fingerprints=[receipt.key_fingerprint], details=details,
    )  # fmt: skip
