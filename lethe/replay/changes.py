"""What a journal row changed, as a change a replay can make again to the rows its leaves name.

A retention batch re-applies its rule (``lethe.retention.sql``: the rule's anonymising SET clause, with its
``mark`` at the original run's instant, or a delete with the rule's cascade to child rows). An erasure's row
re-applies the erasure plan of its kind of subject (``lethe.requests.erasure``): each table it deleted from
is deleted from again (rows pointing at them detached or deleted as erasure does), each table it anonymised
is rewritten with the erasure's operators. Rows already in anonymised form are left alone and counted.
Other requests' rows (a rectification's new values are not journalled) are not replayed, and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lethe.errors import LetheError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, parse_body
from lethe.policy.model import Policy
from lethe.replay.sources import JournalRecord
from lethe.requests.erasure.plan import ErasureSetup, ErasureTable, prepare_erasure
from lethe.retention.cascade import ChildLink, child_links
from lethe.retention.sql import ColumnRewrite, RuleSql, build_rule_sql
from lethe.settings import Settings
from lethe.stores.engines import Stores

Predicate = sa.ColumnElement[bool]


class ReplayError(LetheError):
    """A replay cannot be made as asked (a rule no longer in the policy, leaves under another key); nothing
    was changed."""

    exit_code = 2


@dataclass
class Change:
    """One table's part of a journal row: the rows its leaves name get ``action`` again."""

    record: JournalRecord
    label: str  # the rule, or ``erasure:<subject>``
    store: str
    keyed: str  # the table's name as its leaves are keyed
    table: sa.Table
    action: str  # delete | anonymise
    values: dict[str, Any] = field(default_factory=dict)
    python_rewrites: list[ColumnRewrite] = field(default_factory=list)
    rewrites: list[ColumnRewrite] = field(default_factory=list)
    handled: Predicate | None = None
    links: list[ChildLink] = field(default_factory=list)
    leaves: frozenset[bytes] = frozenset()  # the rows it names (the record's, or several records' merged)

    def __post_init__(self) -> None:
        """The record's leaves unless given."""
        if not self.leaves:
            self.leaves = self.record.leaves

    def same_as(self, other: Change) -> bool:
        """True when ``other`` makes the same change to the same table (a later batch of the same run)."""
        return (self.store, self.keyed, self.label, self.action, self.record.run_id) == (
            other.store, other.keyed, other.label, other.action, other.record.run_id,
        )  # fmt: skip

    @property
    def pk(self) -> list[sa.Column[Any]]:
        """The table's primary-key columns."""
        return list(self.table.primary_key.columns)


@dataclass
class ChangeBuilder:
    """Builds the changes of journal rows, reflecting each rule and kind of subject once."""

    policy: Policy
    stores: Stores
    settings: Settings
    ledger: Ledger
    skipped: dict[str, int] = field(default_factory=dict)  # rows not replayed, by flow/action
    _as_of: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _setups: dict[str, ErasureSetup] = field(default_factory=dict)
    _links: dict[tuple[str, str], list[ChildLink]] = field(default_factory=dict)
    _sql: dict[tuple[str, datetime], RuleSql] = field(default_factory=dict)

    def check(self, record: JournalRecord) -> None:
        """Refuse, before anything changes, a row whose rule or subject the policy no longer has."""
        if record.request:
            entry = self._entry(record)
            subject = entry.details.get("subject")
            if entry.action == "erase" and subject not in self.policy.subjects:
                raise ReplayError(
                    f"journal row {record.ref} is an erasure of a {subject}, a kind of subject the policy no "
                    "longer defines: replay with the policy of that time"
                )
            return
        rule = next((r for r in self.policy.retention if r.name == record.rule), None)
        if rule is None or rule.action != record.action or rule.table.store != record.store:
            raise ReplayError(
                f"journal row {record.ref} was made by retention rule {record.rule} ({record.action}), which the "
                "policy no longer has as it was: replay with the policy of that time"
            )

    def changes(self, record: JournalRecord) -> list[Change]:
        """The changes of one journal row (none for a request other than an erasure: counted as skipped)."""
        if not record.request:
            return [self._retention(record)]
        entry = self._entry(record)
        if entry.action != "erase":
            name = f"{record.flow}:{entry.action}"
            self.skipped[name] = self.skipped.get(name, 0) + 1
            return []
        return self._erasure(record, str(entry.details["subject"]))

    def _entry(self, record: JournalRecord) -> LedgerEntry:
        """The ledger entry a request's row holds."""
        return parse_body(0, json.dumps(record.body["entry"]))[1]

    def _retention(self, record: JournalRecord) -> Change:
        rule = next(r for r in self.policy.retention if r.name == record.rule)
        as_of = self._run_as_of(record)
        if (rule.name, as_of) not in self._sql:  # once per rule and run, not per batch
            self._sql[rule.name, as_of] = build_rule_sql(self.policy, self.stores, rule, as_of, self.settings)
        sql = self._sql[rule.name, as_of]
        store = rule.table.store
        links = self._child_links(store, sql.table) if rule.action == "delete" else []
        return Change(
            record, rule.name, store, rule.table.table, sql.table, rule.action, values=sql.values(as_of),
            python_rewrites=sql.python_rewrites, rewrites=list(sql.rewrites), handled=sql.handled, links=links,
        )  # fmt: skip

    def _child_links(self, store: str, table: sa.Table) -> list[ChildLink]:
        key = (store, table.name)
        if key not in self._links:
            self._links[key] = child_links(self.stores, store, table)
        return self._links[key]

    def _run_as_of(self, record: JournalRecord) -> datetime:
        """The instant of the original run (its ``mark`` value): from its rule's ledger entry, else the row's."""
        key = (record.run_id, record.rule)
        if key not in self._as_of:
            found = record.created_at
            for recorded in self.ledger.entries(run_id=record.run_id):
                entry = recorded.entry
                if (
                    entry.rule == record.rule
                    and entry.action.startswith("retention.")
                    and "as_of" in entry.details
                ):
                    found = datetime.fromisoformat(str(entry.details["as_of"]))
                    break
            self._as_of[key] = found
        return self._as_of[key]

    def _erasure(self, record: JournalRecord, subject: str) -> list[Change]:
        if subject not in self._setups:
            self._setups[subject] = prepare_erasure(self.policy, self.stores, self.settings, subject)
        setup = self._setups[subject]
        changes = []
        for item in setup.in_store(record.store):
            # Journal rows and leaves name the table as the policy does (``schema.table`` included).
            if item.entry.table not in record.tables or item.action not in ("delete", "anonymise"):
                continue  # kept, or rows detached from deleted ones: deleting those detaches them again
            changes.append(_erasure_change(record, subject, item))
        return changes


def _erasure_change(record: JournalRecord, subject: str, item: ErasureTable) -> Change:
    """An erased table's change, with the erasure's SET clause (values already anonymised stay)."""
    values: dict[str, Any] = {}
    tests: list[Predicate] = []
    for rewrite in item.rewrites:
        column = item.table.c[rewrite.column]
        done = rewrite.operator.applied(rewrite.options, column, rewrite.context)
        new = (
            sa.bindparam(f"v_{rewrite.column}", type_=column.type)
            if rewrite.operator.in_python(rewrite.context)
            else rewrite.operator.sql(rewrite.options, column, item.key, rewrite.context)
        )
        values[rewrite.column] = new if done is None else sa.case((done, column), else_=new)
        tests += [] if done is None else [done]
    in_python = [r for r in item.rewrites if r.operator.in_python(r.context)]
    return Change(
        record, f"erasure:{subject}", item.entry.store, item.entry.table, item.table, item.action, values=values,
        python_rewrites=in_python, rewrites=list(item.rewrites), handled=sa.and_(*tests) if tests else None,
        links=list(item.links),
    )  # fmt: skip


def key_in(pk: Sequence[sa.Column[Any]], keys: Sequence[tuple[Any, ...]]) -> Predicate:
    """Rows whose primary key is one of ``keys`` (tuples)."""
    if len(pk) == 1:
        return pk[0].in_([k[0] for k in keys])
    return sa.tuple_(*pk).in_(list(keys))
