"""Applying an erasure (Art. 17): one subject's rows changed per store, in one transaction each, verified.

``apply_erasure`` does what ``lethe.requests.erasure.erase`` documents: the identity store's transaction encloses the others;
in it the identity row is locked and its hold flags read (again), its lookup values captured in memory; each
store's tables are anonymised (operators' SQL), then emptied deepest first (rows pointing at them detached
or deleted with them), kept tables counted, and checks 1-3 run in one query before the commit. Each store's
transaction ends with ``journal(connection, part)``: the caller journals that store's part of the change
there, so the change and its evidence commit together. Check 4 runs after the commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import SchemaMismatchError, StoreError, SubjectError, VerificationError
from lethe.operators.apply import prepare_rewrites, rewrite_in_python
from lethe.requests.erasure.plan import (
    HOLD_REASON,
    ErasurePlan,
    ErasureSetup,
    ErasureTable,
    Hold,
    count_rows,
    resolve_key,
    subject_predicates,
)
from lethe.requests.register import type_name
from lethe.retention.cascade import ChildLink

CHUNK = 500  # keys per statement when detaching or cascading
Predicate = sa.ColumnElement[bool]


class ErasureBlockedError(SubjectError):
    """A hold flag is set on the subject: erasure is refused (Art. 17(3)(e)); the plan is attached."""

    def __init__(self, message: str, plan: ErasurePlan | None = None) -> None:
        super().__init__(message)
        self.plan = plan


def blocked_message(subject: str, holds: tuple[Hold, ...]) -> str:
    """Why erasure is refused: the flags and Art. 17(3)(e); never who."""
    flags = ", ".join(h.flag for h in holds)
    return f"erasure of this {subject} is refused: {flags} is set ({holds[0].reason}); nothing was changed"


@dataclass
class Applied:
    """Counts of a real run and what verification established."""

    rows: dict[str, int] = field(default_factory=dict)
    detached: dict[str, int] = field(default_factory=dict)
    lookups: list[tuple[str, Any]] = field(default_factory=list)  # in memory only, never recorded
    checks: list[str] = field(default_factory=list)
    # The primary keys each statement changed, per ``store.table`` (bare values for a one-column key, else
    # tuples): in memory only, they become the journal's keyed leaves.
    keys: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        self.rows[name] = self.rows.get(name, 0) + n

    def changed(self, name: str, keys: list[Any]) -> None:
        """Keys of ``store.table`` a statement changed."""
        self.keys.setdefault(name, []).extend(keys)


@dataclass(frozen=True)
class StorePart:
    """What one store's transaction changed: counts for its journal row (lookup values in memory only)."""

    store: str
    rows: dict[str, int]
    detached: dict[str, int]
    lookups: tuple[Any, ...] = field(default=(), repr=False)
    keys: dict[str, list[Any]] = field(default_factory=dict, repr=False)  # changed keys per table name


JournalPart = Callable[[sa.Connection, StorePart], None]


# ---------------------------------------------------------------------------------------------- applying


def apply_erasure(
    setup: ErasureSetup, key: Any, identifier: str, journal: JournalPart
) -> tuple[Applied, list[str]]:
    """Change every store, the identity store's transaction enclosing the others, checks 1-3 and the store's
    ``journal`` call before each commit; then check 4 on the same connection. Returns what changed and
    check 4's problems."""
    applied = Applied()
    identity_store = setup.identity.entry.store
    try:
        with setup.stores.engine(identity_store).connect() as outer:
            with outer.begin():
                _prepare_operators(outer, setup, identity_store)
                holds = _lock_identity(outer, setup, key, applied)
                if holds:
                    raise ErasureBlockedError(blocked_message(setup.subject, tuple(holds)))
                for store in setup.store_order()[:-1]:
                    with setup.stores.engine(store).begin() as connection:
                        _prepare_operators(connection, setup, store)
                        _apply_journalled(connection, setup, store, key, applied, journal)
                _apply_journalled(outer, setup, identity_store, key, applied, journal)
            return applied, _verify_resolution(setup, key, identifier, applied, outer)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"erasure of a {setup.subject} failed and was rolled back ({type_name(exc)})"
        ) from None


def _apply_journalled(
    connection: sa.Connection,
    setup: ErasureSetup,
    store: str,
    key: Any,
    applied: Applied,
    journal: JournalPart,
) -> None:
    """Apply one store's part and hand what it changed to ``journal`` on the same transaction."""
    rows, detached = set(applied.rows), set(applied.detached)
    _apply_store(connection, setup, store, key, applied)
    # Names are ``store.table``: what this store added is what was not there before.
    prefix = f"{store}."
    part = StorePart(
        store,
        {name: n for name, n in applied.rows.items() if name not in rows},
        {name: n for name, n in applied.detached.items() if name not in detached},
        tuple(v for _, v in applied.lookups) if store == setup.identity.entry.store else (),
        {name.removeprefix(prefix): k for name, k in applied.keys.items() if name.startswith(prefix) and k},
    )
    journal(connection, part)


def _prepare_operators(connection: sa.Connection, setup: ErasureSetup, store: str) -> None:
    """Let operators prepare the transaction (functions, keys) and check the database once (pgcrypto)."""
    prepare_rewrites(
        connection, [r for t in setup.in_store(store) for r in t.rewrites], ensure=store not in setup.ensured
    )
    setup.ensured.add(store)


def _lock_identity(connection: sa.Connection, setup: ErasureSetup, key: Any, applied: Applied) -> list[Hold]:
    """Lock the identity row (servers), read its hold flags, and keep its lookup values in memory only.

    A lookup value already in anonymised form (a token of an earlier erasure or retention) identifies
    nobody and is left out of verification.
    """
    definition, table = setup.graph.definition, setup.identity.table
    rewrites = {r.column: r for r in setup.identity.rewrites}
    columns: list[sa.ColumnElement[Any]] = [table.c[f] for f in definition.erasure.unless]
    for name in definition.lookup:
        column, rewrite = table.c[name], rewrites.get(name)
        done = rewrite.operator.applied(rewrite.options, column, rewrite.context) if rewrite else None
        columns.append(column if done is None else sa.case((done, sa.null()), else_=column))
    query = sa.select(table.c[definition.key], *columns).where(table.c[definition.key] == key)
    row = connection.execute(
        query if connection.dialect.name == "sqlite" else query.with_for_update()
    ).first()
    if row is None:
        return []
    flags, values = row[1 : 1 + len(definition.erasure.unless)], row[1 + len(definition.erasure.unless) :]
    applied.lookups = [(c, v) for c, v in zip(definition.lookup, values, strict=True) if v is not None]
    return [Hold(f, HOLD_REASON) for f, v in zip(definition.erasure.unless, flags, strict=True) if v]


def _apply_store(
    connection: sa.Connection, setup: ErasureSetup, store: str, key: Any, applied: Applied
) -> None:
    """Anonymise, then delete deepest first; then count kept rows and run checks 1-3 (raise to roll back)."""
    tables = setup.in_store(store)
    predicates = subject_predicates(connection, setup, store, key)
    for item in tables:
        if item.action == "anonymise":
            applied.add(item.name, _anonymise(connection, setup, item, predicates[item.name], applied))
    for item in reversed(tables):
        if item.action == "delete":
            if item.links:
                _unlink_children(connection, item, predicates[item.name], applied)
            deleted = changing(connection, item.table, predicates[item.name], None)
            applied.changed(_keyed(item), deleted)
            applied.add(item.name, len(deleted))
    # One round trip: the kept rows (for the receipt) and everything checks 1-3 must find empty.
    probes: dict[str, tuple[sa.Table, sa.ColumnElement[bool]]] = {}
    for item in tables:
        where = predicates[item.name]
        if item.action == "keep":
            probes[item.name] = (item.table, where)
        elif item.action == "delete":
            probes[f"{item.name}: row(s) of the subject remain"] = (item.table, where)
        elif (form := _rewrite_sql(setup, item)[2]) is not None:
            probes[f"{item.name}: row(s) not in anonymised form"] = (
                item.table,
                sa.and_(where, sa.not_(form)),
            )
    if store == setup.identity.entry.store and applied.lookups:
        table, key_column = setup.identity.table, setup.identity.table.c[setup.graph.definition.key]
        held = sa.or_(*(table.c[column] == value for column, value in applied.lookups))
        probes[f"{setup.identity.name}: a lookup value remains"] = (table, sa.and_(key_column == key, held))
    problems = []
    for label, n in count_rows(connection, probes).items():
        if ": " not in label:
            applied.add(label, n)
        elif n:
            problems.append(f"{label} ({n})")
    if problems:
        raise VerificationError(f"erasure not verified, rolled back, nothing changed: {'; '.join(problems)}")
    deleted_tables = ", ".join(t.name for t in tables if t.action == "delete") or "none"
    applied.checks.append(f"{store}: no row of the subject left in deleted tables ({deleted_tables})")
    if any(t.action == "anonymise" for t in tables):
        applied.checks.append(f"{store}: anonymised columns hold anonymised values")
    if store == setup.identity.entry.store and applied.lookups:
        names = ", ".join(c for c, _ in applied.lookups)
        applied.checks.append(f"lookup columns ({names}) no longer hold the subject's values")


def _rewrite_sql(
    setup: ErasureSetup, item: ErasureTable
) -> tuple[dict[str, Any], Predicate | None, Predicate | None]:
    """An anonymised table's SET clause, "every column is anonymised" (None when some operator's output
    cannot be recognised) and "every recognisable column is"; built once per setup, as operators build
    these expressions slowly in Python (and one object each keeps SQLAlchemy's compiled cache warm)."""
    if item.name not in setup.memo:
        values: dict[str, Any] = {}
        tests, every = [], True
        for rewrite in item.rewrites:
            column = item.table.c[rewrite.column]
            done = rewrite.operator.applied(rewrite.options, column, rewrite.context)
            new = (
                sa.bindparam(f"v_{rewrite.column}", type_=column.type)  # computed per row in Python
                if rewrite.operator.in_python(rewrite.context)
                else rewrite.operator.sql(rewrite.options, column, item.key, rewrite.context)
            )
            # A value anonymised before (e.g. by retention) stays: an hmac of its token would break the
            # link retention's tokens give.
            values[rewrite.column] = new if done is None else sa.case((done, column), else_=new)
            every = every and done is not None
            tests += [] if done is None else [done]  # operators count a NULL as applied
        form = sa.and_(*tests) if tests else None
        setup.memo[item.name] = (values, form if every else None, form)
    result: tuple[dict[str, Any], Predicate | None, Predicate | None] = setup.memo[item.name]
    return result


def _anonymise(
    connection: sa.Connection, setup: ErasureSetup, item: ErasureTable, where: Predicate, applied: Applied
) -> int:
    """Rewrite the subject's rows of one table set-based; values already anonymised stay as they are."""
    values, handled, _ = _rewrite_sql(setup, item)
    condition = where if handled is None else sa.and_(where, sa.not_(handled))
    if in_python := [r for r in item.rewrites if r.operator.in_python(r.context)]:  # tokens: in_process
        keys = _locked_keys(connection, item.table, condition)
        applied.changed(_keyed(item), keys)
        return rewrite_in_python(connection, item.table, condition, in_python, values) if keys else 0
    keys = changing(connection, item.table, condition, values)
    applied.changed(_keyed(item), keys)
    return len(keys)


def _keyed(item: ErasureTable) -> str:
    """``store.table`` with the table as the policy names it (``schema.table`` included), as leaves are keyed."""
    return item.name


def _named(table: sa.Table) -> str:
    """A table outside the policy (a child detached or deleted with its parent) as the policy would name it."""
    return f"{table.schema}.{table.name}" if table.schema else table.name


def changing(
    connection: sa.Connection, table: sa.Table, where: Predicate, values: dict[str, Any] | None
) -> list[Any]:
    """UPDATE (with ``values``) or DELETE (without) the rows of ``where``; return the keys it changed.

    RETURNING where the engine has it (SQLite 3.35+, PostgreSQL; MariaDB's DELETE); otherwise (MariaDB's
    UPDATE) the keys are locked first and the statement must change exactly them.
    """
    pk = list(table.primary_key.columns)
    dialect = connection.dialect
    statement: Any = sa.delete(table) if values is None else sa.update(table).values(values)
    if dialect.delete_returning if values is None else dialect.update_returning:
        result = connection.execute(statement.where(where).returning(*pk))
        return list(result.scalars().all()) if len(pk) == 1 else [tuple(r) for r in result.all()]
    keys = _locked_keys(connection, table, where)
    if keys:
        rows = int(connection.execute(statement.where(where)).rowcount)
        if rows != len(keys):  # a concurrent writer got in between: roll back rather than leave a key out
            raise VerificationError(f"{table.name}: {rows} row(s) changed, {len(keys)} expected")
    return keys


def _locked_keys(connection: sa.Connection, table: sa.Table, where: Predicate) -> list[Any]:
    """The keys of ``where``'s rows, locked on servers (SQLite's write lock covers the transaction)."""
    pk = list(table.primary_key.columns)
    query = sa.select(*pk).where(where)
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    result = connection.execute(query)
    return list(result.scalars().all()) if len(pk) == 1 else [tuple(r) for r in result.all()]


def _unlink_children(
    connection: sa.Connection, item: ErasureTable, where: sa.ColumnElement[bool], applied: Applied
) -> None:
    """Detach (nullable key) or delete (NOT NULL key) the rows of other tables pointing at doomed rows."""
    if len(item.key) != 1:
        raise SchemaMismatchError(f"{item.name}: a table with children needs a single-column primary key")
    changed: dict[str, list[Any]] = {}
    if connection.dialect.name in ("postgresql", "sqlite") and all(link.detach for link in item.links):
        # Only detaching: one UPDATE per link through a subquery of the parents, no keys read first
        # (MariaDB cannot semi-join a single-table UPDATE: it gets the parents' keys as values below).
        counts: dict[str, int] = {}
        for link in item.links:
            parents = sa.select(item.table.c[link.parent_column]).where(where)
            detached = changing(
                connection, link.table, link.fk_column.in_(parents), {link.fk_column.name: None}
            )
            changed.setdefault(_named(link.table), []).extend(detached)
            counts[link.label] = counts.get(link.label, 0) + len(detached)
    else:
        keys = list(connection.execute(sa.select(item.key[0]).where(where)).scalars())
        counts = _unlink(connection, list(item.links), item.table, keys, changed)
    for label, n in counts.items():
        table, _, kind = label.partition(" (")
        name = f"{item.entry.store}.{table}"
        if kind == "detach)":
            applied.detached[name] = applied.detached.get(name, 0) + n
        elif n:  # deleted with their parent: the subject's rows, or another table's (NOT NULL key)
            applied.add(name, n)
    for table, changed_keys in changed.items():
        applied.changed(f"{item.entry.store}.{table}", changed_keys)


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def _unlink(
    connection: sa.Connection,
    links: list[ChildLink],
    parent: sa.Table,
    keys: list[Any],
    changed: dict[str, list[Any]],
) -> dict[str, int]:
    """``retention_cascade.delete_children`` with the parents' keys as values (erasure_plan says why); the
    keys of the rows detached or deleted go to ``changed`` (by table name)."""
    counts: dict[str, int] = {}
    pk = next(iter(parent.primary_key.columns))
    for link in links:
        values = keys
        if link.parent_column != pk.name:  # a foreign key to another unique column of the parent
            select = sa.select(parent.c[link.parent_column])
            values = [v for c in _chunks(keys) for v in connection.execute(select.where(pk.in_(c))).scalars()]
        n = 0
        for chunk in _chunks(values):
            if link.detach:
                detached = changing(
                    connection, link.table, link.fk_column.in_(chunk), {link.fk_column.name: None}
                )
                changed.setdefault(_named(link.table), []).extend(detached)
                n += len(detached)
                continue
            if link.children:
                child_pk = list(link.table.primary_key.columns)
                if len(child_pk) != 1:
                    raise SchemaMismatchError(
                        f"{link.table.name}: cascading needs a single-column primary key"
                    )
                children = list(
                    connection.execute(sa.select(child_pk[0]).where(link.fk_column.in_(chunk))).scalars()
                )
                for label, m in _unlink(connection, link.children, link.table, children, changed).items():
                    counts[label] = counts.get(label, 0) + m
            deleted = changing(connection, link.table, link.fk_column.in_(chunk), None)
            changed.setdefault(_named(link.table), []).extend(deleted)
            n += len(deleted)
        counts[link.label] = counts.get(link.label, 0) + n
    return counts


# ------------------------------------------------------------------------------------------- verifying


def _verify_resolution(
    setup: ErasureSetup, key: Any, identifier: str, applied: Applied, connection: sa.Connection
) -> list[str]:
    """Check 4, after the commit: neither the identifier nor a captured lookup value finds the subject."""
    texts = list(dict.fromkeys([identifier, *(str(v) for _, v in applied.lookups)]))
    if setup.identity.action != "delete" and str(key) in {t.strip() for t in texts}:
        texts = [t for t in texts if t.strip() != str(key)]
        applied.checks.append(f"the key stays: {setup.identity.name} is kept pseudonymised, its key resolves")
    found = []
    for text in texts:
        try:
            found.append(resolve_key(setup, text, connection, tokens=False))
        except SubjectError:
            continue  # nobody, or several others sharing the value (check 3 cleared the subject's own row)
    applied.checks.append(f"{len(texts)} identifier value(s) no longer find the subject")
    return ["an identifier still finds the subject"] if key in found else []
