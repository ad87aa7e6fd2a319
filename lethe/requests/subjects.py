"""The subject graph: every row that belongs to one data subject, across tables and stores.

From a subject's identity table (``subjects.<name>.table``) the graph follows reflected foreign keys
backwards, breadth first: ``orders.customer_id -> customers.id`` makes orders the subject's, and
``order_lines.order_id -> orders.id`` makes order lines the subject's through orders. A table with a
declared ``subject_column`` (a log without constraints, or a table in another store) is linked by value.
Each table is reached by its shortest path; rows that reach the subject only through a longer path (an
order shipped to this customer's address but placed by another customer) are not the subject's. The walk
stops at other subjects' tables: an employee's customers are the customers' data, not the employee's.

Tables the data map declares for a subject but the graph cannot reach are reported by ``unreachable``, so
``lethe validate`` can say so instead of an export silently leaving them out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, SQLAlchemyError

from lethe.errors import (
    AmbiguousSubjectError,
    StoreError,
    SubjectError,
    SubjectNotFoundError,
)
from lethe.policy.model import Policy, SubjectDef, TableRef
from lethe.requests.lookup import TokenLookup, can_identify, lookup_values, token_lookup
from lethe.settings import Settings
from lethe.stores.engines import Stores
from lethe.stores.schema import ForeignKey

MAX_DEPTH = 6


@dataclass(frozen=True)
class Hop:
    """One step from a table to its parent: ``table.column`` references ``parent.parent_column``."""

    table: str
    column: str
    parent: str
    parent_column: str


@dataclass(frozen=True)
class SubjectTable:
    """A table holding rows of the subject, and how its rows reach the identity row."""

    store: str
    table: str
    hops: tuple[Hop, ...]  # from this table up to the identity table; empty for the identity table
    by_value: str | None = None  # subject_column matched against the subject's key (no foreign key)
    declared: bool = False  # in the data map for this subject

    @property
    def ref(self) -> TableRef:
        """``store.table``."""
        return TableRef(store=self.store, table=self.table)

    @property
    def depth(self) -> int:
        """Number of foreign-key steps to the identity table."""
        return len(self.hops)


@dataclass
class SubjectGraph:
    """The tables of one kind of subject, identity table first, parents before children."""

    subject: str
    definition: SubjectDef
    tables: list[SubjectTable] = field(default_factory=list)
    # Tables linked by a foreign key but belonging to another kind of subject, where the walk stopped.
    other_subjects: list[TableRef] = field(default_factory=list)

    def table(self, store: str, name: str) -> SubjectTable | None:
        """The graph's entry for a table, if it holds the subject's rows."""
        return next((t for t in self.tables if t.store == store and t.table == name), None)


def build_graph(policy: Policy, stores: Stores, subject: str) -> SubjectGraph:
    """Walk foreign keys (and declared subject columns) from the subject's identity table."""
    definition = policy.subjects.get(subject)
    if definition is None:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    declared = {
        (ref.store, ref.table) for ref, table_map in policy.data_map.items() if table_map.subject == subject
    }
    # Rows of another kind of subject are that subject's data, not this one's: the walk stops at their
    # identity tables and at tables the data map gives to another subject (an employee's customers).
    others = {(d.store, d.table) for name, d in policy.subjects.items() if name != subject}
    others |= {
        (ref.store, ref.table)
        for ref, table_map in policy.data_map.items()
        if table_map.subject not in (None, subject)
    }
    graph = SubjectGraph(subject, definition)
    seen: set[tuple[str, str]] = {(definition.store, definition.table)}
    graph.tables.append(
        SubjectTable(
            definition.store, definition.table, (), None, (definition.store, definition.table) in declared
        )
    )
    queue: deque[tuple[str, tuple[Hop, ...]]] = deque([(definition.table, ())])
    schema = stores.schema(definition.store)
    while queue:
        parent, hops = queue.popleft()
        if len(hops) >= MAX_DEPTH:
            continue
        links: dict[str, list[ForeignKey]] = {}
        for child, child_fk in schema.children_of(parent):
            links.setdefault(child.name, []).append(child_fk)
        for child_name, fks in links.items():
            key = (definition.store, child_name)
            if key in others and key not in seen:
                graph.other_subjects.append(TableRef(store=definition.store, table=child_name))
                seen.add(key)
            if key in seen:
                continue
            link = _one_link(policy, definition.store, child_name, parent, fks)
            if link is None:
                continue
            seen.add(key)
            path = (Hop(child_name, link.columns[0], parent, link.ref_columns[0]), *hops)
            graph.tables.append(SubjectTable(definition.store, child_name, path, None, key in declared))
            queue.append((child_name, path))
    # Declared links by value: tables without a foreign key, possibly in other stores.
    for ref, table_map in policy.data_map.items():
        if table_map.subject != subject or not table_map.subject_column or (ref.store, ref.table) in seen:
            continue
        seen.add((ref.store, ref.table))
        graph.tables.append(SubjectTable(ref.store, ref.table, (), table_map.subject_column, True))
    return graph


def _one_link(
    policy: Policy, store: str, child: str, parent: str, fks: list[ForeignKey]
) -> ForeignKey | None:
    """The foreign key that makes rows of ``child`` the subject's (None: composite keys only, not followed).

    Two keys to the same parent (``customer_id``, ``referrer_id``) are ambiguous: following the wrong one would
    export someone else's rows, or erase them, so the data map's ``subject_column`` must name one.
    """
    single = [fk for fk in fks if len(fk.columns) == 1]
    if len(single) <= 1:
        return single[0] if single else None
    table_map = policy.table_map(TableRef(store=store, table=child))
    named = [fk for fk in single if table_map is not None and fk.columns[0] == table_map.subject_column]
    if len(named) == 1:
        return named[0]
    columns = ", ".join(fk.columns[0] for fk in single)
    raise SubjectError(
        f"{child} has {len(single)} foreign keys to {parent} ({columns}): say which one makes its rows the "
        f"subject's with data_map.{store}.{child}.subject_column"
    )


def unreachable(policy: Policy, graph: SubjectGraph) -> list[TableRef]:
    """Tables the data map declares for the subject that the graph does not reach."""
    reached = {(t.store, t.table) for t in graph.tables}
    return [
        ref
        for ref, table_map in policy.data_map.items()
        if table_map.subject == graph.subject and (ref.store, ref.table) not in reached
    ]


def _table(stores: Stores, store: str, name: str, cache: dict[tuple[str, str], sa.Table]) -> sa.Table:
    key = (store, name)
    if key not in cache:
        cache[key] = stores.sa_table(store, name)
    return cache[key]


@dataclass
class SubjectQueries:
    """SQLAlchemy selects of one subject's rows, built once per graph (tables reflected once)."""

    graph: SubjectGraph
    stores: Stores
    _tables: dict[tuple[str, str], sa.Table] = field(default_factory=dict)

    def table(self, entry: SubjectTable) -> sa.Table:
        """The reflected table of a graph entry."""
        return _table(self.stores, entry.store, entry.table, self._tables)

    def rows_of(self, entry: SubjectTable, subject_key: Any) -> sa.Select[Any]:
        """``SELECT * FROM entry`` restricted to the rows of the subject with ``subject_key``."""
        table = self.table(entry)
        return sa.select(table).where(self.belongs(entry, subject_key)).order_by(*table.primary_key.columns)

    def belongs(self, entry: SubjectTable, subject_key: Any) -> sa.ColumnElement[bool]:
        """Predicate on ``entry``'s table: the row is the subject's (nested ``IN`` along the path)."""
        identity = self.graph.definition
        table = self.table(entry)
        if entry.by_value is not None:
            return table.c[entry.by_value] == subject_key
        if not entry.hops:
            return table.c[identity.key] == subject_key
        # hops[0] leaves this table, hops[-1] reaches the identity table. Walk them from the top: the keys of
        # the identity row that hops[-1] references, then each intermediate table's keys the next hop uses.
        hops = entry.hops
        identity_table = _table(self.stores, entry.store, hops[-1].parent, self._tables)
        keys: sa.Select[Any] = sa.select(identity_table.c[hops[-1].parent_column]).where(
            identity_table.c[identity.key] == subject_key
        )
        for i in range(len(hops) - 1, 0, -1):
            step = _table(self.stores, entry.store, hops[i].table, self._tables)
            keys = sa.select(step.c[hops[i - 1].parent_column]).where(step.c[hops[i].column].in_(keys))
        return table.c[hops[0].column].in_(keys)


def resolve_subject(
    policy: Policy, stores: Stores, subject: str, identifier: str, settings: Settings | None = None
) -> Any:
    """The key of the one subject whose key or a lookup column equals ``identifier``.

    With ``settings`` (the master key) a lookup column also matches the ``hmac`` tokens the policy would
    have written for the identifier (``subjects_lookup``): a pseudonymised subject is found by its old email.
    Raises SubjectNotFoundError when nobody matches and AmbiguousSubjectError when several subjects do;
    neither message repeats the identifier.
    """
    definition = policy.subjects.get(subject)
    if definition is None:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    table = stores.sa_table(definition.store, definition.table)
    tokens = token_lookup(policy, settings, subject, table.name)
    return find_subject_key(stores, subject, definition, table, identifier, tokens=tokens)


def find_subject_key(
    stores: Stores,
    subject: str,
    definition: SubjectDef,
    table: sa.Table,
    identifier: str,
    connection: sa.Connection | None = None,
    *,
    tokens: TokenLookup | None = None,
) -> Any:
    """``resolve_subject`` on an already reflected identity table, optionally inside a transaction."""
    searched = ", ".join((definition.key, *definition.lookup))
    not_found = SubjectNotFoundError(f"no {subject} matches the identifier (searched {searched})")
    if not can_identify(identifier):
        raise not_found
    dialect = (connection or stores.engine(definition.store)).dialect.name
    tests: list[sa.ColumnElement[bool]] = []
    for name in (definition.key, *definition.lookup):
        column = table.c[name]
        values = lookup_values(column, identifier, dialect, tokens if name != definition.key else None)
        if values:
            tests.append(column == values[0] if len(values) == 1 else column.in_(values))
    if not tests:
        raise not_found
    query = sa.select(table.c[definition.key]).where(sa.or_(*tests)).limit(2)
    try:
        if connection is not None:
            keys: Sequence[Any] = connection.execute(query).scalars().all()
        else:
            with stores.engine(definition.store).connect() as own:
                keys = own.execute(query).scalars().all()
    except DataError:
        # The database refused the identifier as a value of a column (a type the checks above do not know):
        # it cannot be anybody's identifier. The driver's message quotes it, so it is dropped.
        raise not_found from None
    except SQLAlchemyError as exc:
        raise StoreError(
            f"store {definition.store}: cannot look up the subject ({type(exc).__name__})"
        ) from None
    if not keys:
        raise not_found
    if len(keys) > 1:
        raise AmbiguousSubjectError(
            f"the identifier matches more than one {subject}: use an unambiguous identifier"
        )
    return keys[0]
