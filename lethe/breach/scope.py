"""The scope of a breach, from the data map: which tables and columns, what categories, how many (COUNTs).

A scope names stores, tables (``store.table``) and columns (``store.table.column``); a store takes all its
mapped tables, a table all its mapped columns. The numbers are approximate by nature (Art. 33(3)(a)): records
are the table's rows (all of them: the time window says when the breach happened, not which rows it reached),
subjects the distinct subject keys those rows lead to (through the subject graph's first foreign key or
``subject_column``). Nothing but names and counts leaves this module; the contact list reads keys separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import ParameterError, StoreError
from lethe.policy import categories
from lethe.policy.model import Policy, TableRef
from lethe.requests.subjects import SubjectTable, build_graph
from lethe.stores.engines import Stores


@dataclass(frozen=True)
class ScopeRequest:
    """What the breach reached, as given on the command line, and when it happened."""

    stores: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class TableScope:
    """One table in scope: its columns, their categories, its counts."""

    table: str
    subject: str | None
    columns: list[str]
    categories: list[str]
    records: int
    subjects: int | None  # None: the rows do not lead to a subject key the data map declares


@dataclass(frozen=True)
class BreachScope:
    """The whole scope."""

    tables: list[TableScope]
    categories: list[str] = field(default_factory=list)
    special_categories: list[str] = field(default_factory=list)
    records: int = 0
    subjects: int = 0  # distinct per kind of subject, summed over kinds
    subjects_by_kind: dict[str, int] = field(default_factory=dict)
    unknown_subjects: list[str] = field(default_factory=list)  # tables whose subjects could not be counted


def _selected(policy: Policy, request: ScopeRequest) -> dict[TableRef, list[str]]:
    """Mapped tables and columns the request names; ParameterError for a name the data map does not have."""
    chosen: dict[TableRef, list[str]] = {}
    mapped = {str(ref): ref for ref in policy.data_map}
    for store in request.stores:
        if store not in policy.stores:
            raise ParameterError(
                f"--stores: unknown store {store!r}; the policy names {', '.join(policy.stores)}"
            )
        for ref, table_map in policy.data_map.items():
            if ref.store == store:
                chosen[ref] = list(table_map.columns)
    for name in request.tables:
        if name not in mapped:
            raise ParameterError(f"--tables: {name!r} is not a table of the data map (store.table)")
        chosen[mapped[name]] = list(policy.data_map[mapped[name]].columns)
    for name in request.columns:
        table_name, _, column = name.rpartition(".")
        if table_name not in mapped or column not in policy.data_map[mapped[table_name]].columns:
            raise ParameterError(
                f"--columns: {name!r} is not a mapped column of the data map (store.table.column)"
            )
        ref = mapped[table_name]
        if ref not in chosen or column not in chosen[ref]:
            chosen.setdefault(ref, [])
            if column not in chosen[ref]:
                chosen[ref].append(column)
    if not chosen:
        raise ParameterError("a breach needs a scope: --stores, --tables or --columns")
    return chosen


def subject_key_query(stores: Stores, entry: SubjectTable, key: str) -> sa.Select[Any]:
    """The subject keys the rows of a table lead to (with repeats); ``key``: the identity table's key."""
    table = stores.sa_table(entry.store, entry.table)
    if entry.by_value:
        return sa.select(table.c[entry.by_value].label("k")).where(table.c[entry.by_value].is_not(None))
    if not entry.hops:
        return sa.select(table.c[key].label("k"))  # the identity table
    query_from: Any = table
    current = table
    for hop in entry.hops[:-1]:
        parent = stores.sa_table(entry.store, hop.parent)
        query_from = query_from.join(parent, current.c[hop.column] == parent.c[hop.parent_column])
        current = parent
    last = entry.hops[-1]
    column = current.c[last.column]
    return sa.select(column.label("k")).select_from(query_from).where(column.is_not(None))


def compute_scope(policy: Policy, stores: Stores, request: ScopeRequest) -> BreachScope:
    """Counts and categories of what the breach reached."""
    chosen = _selected(policy, request)
    graphs = {name: build_graph(policy, stores, name) for name in policy.subjects}
    tables: list[TableScope] = []
    keys_by_kind: dict[str, list[sa.Select[Any]]] = {}
    unknown: list[str] = []
    try:
        for ref, columns in sorted(chosen.items(), key=lambda item: str(item[0])):
            table_map = policy.data_map[ref]
            kind = table_map.subject
            cats = sorted({table_map.columns[c].category for c in columns})
            table = stores.sa_table(ref.store, ref.table)
            with stores.engine(ref.store).connect() as connection:
                records = int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                entry = graphs[kind].table(ref.store, ref.table) if kind in graphs else None
                subjects: int | None = None
                if entry is not None:
                    keys = subject_key_query(stores, entry, policy.subjects[kind or ""].key)
                    keys_by_kind.setdefault(kind or "", []).append(keys)
                    subjects = int(
                        connection.execute(
                            sa.select(sa.func.count(sa.distinct(keys.subquery().c.k)))
                        ).scalar_one()
                    )
                else:
                    unknown.append(str(ref))
            tables.append(TableScope(str(ref), kind, columns, cats, records, subjects))
        by_kind: dict[str, int] = {}
        for kind, queries in keys_by_kind.items():
            store = policy.subjects[kind].store
            union = sa.union(*queries).subquery() if len(queries) > 1 else queries[0].subquery()
            with stores.engine(store).connect() as connection:
                by_kind[kind] = int(
                    connection.execute(sa.select(sa.func.count(sa.distinct(union.c.k)))).scalar_one()
                )
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot count the breach's scope ({type(exc).__name__})") from None
    all_categories = sorted({c for t in tables for c in t.categories})
    return BreachScope(
        tables=tables,
        categories=all_categories,
        special_categories=[c for c in all_categories if categories.is_special(c)],
        records=sum(t.records for t in tables),
        subjects=sum(by_kind.values()),
        subjects_by_kind=by_kind,
        unknown_subjects=unknown,
    )


def scope_keys(policy: Policy, stores: Stores, scope: BreachScope, kind: str) -> sa.Select[Any]:
    """The distinct keys of ``kind``'s subjects in scope (for the contact list; never printed)."""
    graph = build_graph(policy, stores, kind)
    queries = []
    for t in scope.tables:
        store, _, name = t.table.partition(".")
        entry = graph.table(store, name)
        if t.subject == kind and entry is not None:
            queries.append(subject_key_query(stores, entry, policy.subjects[kind].key))
    if not queries:
        raise ParameterError(f"no table in scope leads to a {kind}")
    union = sa.union(*queries).subquery() if len(queries) > 1 else queries[0].subquery()
    return sa.select(union.c.k).distinct()
