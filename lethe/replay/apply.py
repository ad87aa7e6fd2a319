"""Replaying journalled changes on restored stores: scan primary keys, match leaves, change those rows again.

For each table a journal row since ``since`` changed, the table's current primary keys are read in key order,
``CHUNK`` at a time, and each key's leaf is computed (``lethe.ledger.leaves``, keyed per table as the original
change keyed it). The rows whose leaf a journal row holds get that row's change again
(``lethe.replay.changes``), in the order the changes were made, in one transaction per chunk. The keys come
from the store only: journals and the ledger hold leaves, which cannot be turned back into keys. Rows already
handled (in anonymised form) are left alone; rows that are absent (deleted, or never restored) are not found.

Each chunk's changes are journalled in the same transaction (flow ``replay``, the original rule or
``erasure:<subject>``, the leaves of the rows changed again), copied into the ledger like retention batches,
and the replay ends with one summary entry (action ``replay``; ``replay.plan`` for a dry run, which only counts).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import key_id
from lethe.errors import StoreError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.journal import ensure_journal, record_batch, transfer_pending
from lethe.ledger.leaves import leaf_maker
from lethe.operators.apply import prepare_rewrites, rewrite_in_python
from lethe.policy.model import Policy
from lethe.replay.changes import Change, ChangeBuilder, ReplayError, key_in
from lethe.replay.sources import REPLAY_FLOW, check_roots, ledger_records, merged, store_records
from lethe.retention.cascade import delete_children
from lethe.settings import Settings
from lethe.stores.engines import Stores

CHUNK = 5000  # primary keys read, hashed and matched per transaction
Key = tuple[Any, ...]


@dataclass
class TableReplay:
    """What a replay found and did in one table (counts only)."""

    store: str
    table: str
    scanned: int = 0  # primary keys read
    matched: int = 0  # rows whose leaf a journal row holds
    applied: int = 0  # of those, rows changed again
    absent: int = 0  # leaves of the journal rows whose row is not in the table
    children: dict[str, int] = field(default_factory=dict)  # child rows deleted or detached with them

    @property
    def already(self) -> int:
        """Matched rows already in their changed form (left alone)."""
        return self.matched - self.applied


@dataclass
class ReplayResult:
    """A replay's counts, per table, and the journal rows it read or left out."""

    run_id: str
    since: datetime
    dry_run: bool
    stores: list[str]
    records: int
    tables: list[TableReplay]
    skipped: dict[str, int]
    started_at: datetime
    ended_at: datetime

    @property
    def matched(self) -> int:
        return sum(t.matched for t in self.tables)

    @property
    def applied(self) -> int:
        return sum(t.applied for t in self.tables)

    @property
    def already(self) -> int:
        return sum(t.already for t in self.tables)

    def counts(self) -> dict[str, int]:
        """The counts a ledger entry and a report carry."""
        counts = {"records": self.records, "matched": self.matched, "applied": self.applied}
        counts |= {"already": self.already, "absent": sum(t.absent for t in self.tables)}
        for t in self.tables:
            counts[f"applied:{t.store}.{t.table}"] = t.applied
            counts[f"matched:{t.store}.{t.table}"] = t.matched
        return counts | {f"skipped:{name}": n for name, n in self.skipped.items()}


def replay(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    ledger: Ledger,
    *,
    since: datetime,
    store_names: Sequence[str] | None = None,
    dry_run: bool = False,
    run_id: str | None = None,
    now: datetime | None = None,
) -> ReplayResult:
    """Re-apply every journalled erasure and retention change made at or after ``since`` (see the module).

    Everything is checked before anything changes: ``since`` not in the future, known stores, a writable
    ledger, leaves made under the current master key, rules and subjects still in the policy.
    """
    started = datetime.now(UTC)
    run_id = run_id or str(uuid.uuid4())
    if since.tzinfo is None:
        raise ReplayError("--since must be timezone-aware (e.g. 2026-11-25T00:00:00+00:00)")
    if since > (now or started):
        raise ReplayError("--since is in the future: a replay starts at the instant of the backup, or before")
    names = list(store_names or policy.stores)
    unknown = sorted(set(names) - set(policy.stores))
    if unknown:
        raise ReplayError(f"unknown store(s) {', '.join(unknown)}; known: {', '.join(sorted(policy.stores))}")
    master = settings.require_master_key()
    ident = key_id(master)
    ledger.check_writable()
    if not dry_run:
        for name in names:  # what the restored journal holds and the ledger lacks goes in first
            transfer_pending(stores.engine(name), name, ledger)
    records = merged(
        ledger_records(ledger, names, since), *(store_records(stores.engine(n), n, since) for n in names)
    )
    foreign = sorted({r.key_id or "" for r in records} - {ident})
    if foreign:
        raise ReplayError(
            f"journal rows since then hold leaves under master key id(s) {', '.join(foreign)}, not the current "
            f"{ident}: replay with the master key they were made with"
        )
    check_roots(ledger, records, pending_ok=dry_run)
    builder = ChangeBuilder(policy, stores, settings, ledger)
    for record in records:
        builder.check(record)
    groups: dict[tuple[str, str], list[Change]] = {}
    for record in records:
        for change in builder.changes(record):
            group = groups.setdefault((change.store, change.keyed), [])
            if group and group[-1].same_as(change):  # the next batch of the same run: one change, more leaves
                group[-1].leaves = group[-1].leaves | change.leaves
            else:
                group.append(change)
    tables = [
        _replay_table(stores, master, ident, changes, dry_run=dry_run, run_id=run_id, policy_hash=policy.hash)
        for changes in groups.values()
    ]
    if not dry_run:
        for name in names:
            transfer_pending(stores.engine(name), name, ledger)
    result = ReplayResult(
        run_id, since, dry_run, names, len(records), tables, dict(builder.skipped), started, datetime.now(UTC)
    )
    ledger.append(_summary(policy, result))
    return result


def _summary(policy: Policy, result: ReplayResult) -> LedgerEntry:
    """The replay's ledger entry: counts per table, the instant it started from, never a key."""
    return LedgerEntry(
        run_id=result.run_id, flow=REPLAY_FLOW, policy_hash=policy.hash,
        action="replay.plan" if result.dry_run else "replay", outcome="planned" if result.dry_run else "completed",
        started_at=result.started_at, ended_at=result.ended_at, counts=result.counts(),
        details={"since": result.since.isoformat(), "stores": ",".join(result.stores)},
    )  # fmt: skip


def _after(pk: Sequence[sa.Column[Any]], last: Key | None) -> sa.ColumnElement[bool]:
    if last is None:
        return sa.true()
    if len(pk) == 1:
        return pk[0] > last[0]
    return sa.tuple_(*pk) > sa.tuple_(*[sa.literal(v) for v in last])


def _replay_table(
    stores: Stores,
    master: bytes,
    ident: str,
    changes: list[Change],
    *,
    dry_run: bool,
    run_id: str,
    policy_hash: str,
) -> TableReplay:
    """Scan one table's keys and replay its changes on the rows whose leaves they hold."""
    first = changes[0]
    store, pk = first.store, first.pk
    engine = stores.engine(store)
    leaf = leaf_maker(master, store, first.keyed)
    done = TableReplay(store, first.keyed)
    owners: dict[bytes, list[int]] = {}  # leaf -> the changes (by index, in order) that name it
    for i, change in enumerate(changes):
        for named in change.leaves:
            owners.setdefault(named, []).append(i)
    found: set[bytes] = set()
    rewrites = [r for c in changes for r in c.rewrites]
    journal = None if dry_run else ensure_journal(engine)
    ensured, batch_no, after = False, 0, None
    try:
        while True:
            with engine.connect() as connection:
                query = sa.select(*pk).where(_after(pk, after)).order_by(*pk).limit(CHUNK)
                keys = [tuple(row) for row in connection.execute(query)]
            if not keys:
                break
            done.scanned += len(keys)
            by_change: dict[int, list[Key]] = {}
            for k in keys:
                made = leaf(k)
                if made in owners:
                    found.add(made)
                    done.matched += 1
                    for i in owners[made]:
                        by_change.setdefault(i, []).append(k)
            work = [(changes[i], by_change[i]) for i in sorted(by_change)]
            if work and dry_run:
                with engine.connect() as connection:
                    prepare_rewrites(connection, rewrites, ensure=not ensured)
                    done.applied += len(set().union(*(_pending(connection, c, ks) for c, ks in work)))
            elif work and journal is not None:
                started = datetime.now(UTC)
                changed: set[Key] = set()
                with engine.begin() as connection:
                    prepare_rewrites(connection, rewrites, ensure=not ensured)
                    for change, ks in work:
                        now_changed, children = apply_keys(connection, change, ks)
                        if not now_changed:
                            continue
                        batch_no += 1
                        changed.update(now_changed)
                        for label, n in children.items():
                            done.children[label] = done.children.get(label, 0) + n
                        record_batch(
                            connection, journal, run_id=run_id, flow=REPLAY_FLOW, rule=change.label,
                            batch_no=batch_no, action=change.action, policy_hash=policy_hash,
                            counts={"rows": len(now_changed), **children},
                            leaves=sorted(leaf(k) for k in now_changed), key_id=ident, span=(None, None),
                            started_at=started,
                        )  # fmt: skip
                done.applied += len(changed)
            ensured = ensured or bool(work)
            after = keys[-1]
            if len(keys) < CHUNK:
                break
    except SQLAlchemyError as exc:
        raise StoreError(
            f"replay of {store}.{first.keyed} failed and its last chunk was rolled back ({exc.__class__.__name__})"
        ) from None
    done.absent = len(owners) - len(found)
    return done


def _tuples(result: sa.CursorResult[Any]) -> list[Key]:
    return [tuple(row) for row in result]


def _pending(connection: sa.Connection, change: Change, keys: list[Key]) -> set[Key]:
    """The keys of ``keys`` the change would change now (a dry run's count)."""
    where = key_in(change.pk, keys)
    if change.action == "anonymise" and change.handled is not None:
        where = sa.and_(where, sa.not_(change.handled))
    return set(_tuples(connection.execute(sa.select(*change.pk).where(where))))


def apply_keys(
    connection: sa.Connection, change: Change, keys: list[Key]
) -> tuple[list[Key], dict[str, int]]:
    """Make ``change`` again to the rows of ``keys`` not yet in its form; return the keys changed and the
    child rows deleted or detached (a delete's cascade)."""
    target = key_in(change.pk, keys)
    if change.action == "delete":
        children = (
            delete_children(connection, change.links, sa.select(*change.pk).where(target))
            if change.links
            else {}
        )
        return _changing(connection, change, target, None), {k: v for k, v in children.items() if v}
    where = target if change.handled is None else sa.and_(target, sa.not_(change.handled))
    if change.python_rewrites:
        locked = _locked(connection, change, where)
        if locked:
            rewrite_in_python(connection, change.table, key_in(change.pk, locked), change.python_rewrites,
                              change.values)  # fmt: skip
        return locked, {}
    return _changing(connection, change, where, change.values), {}


def _changing(
    connection: sa.Connection, change: Change, where: sa.ColumnElement[bool], values: dict[str, Any] | None
) -> list[Key]:
    """UPDATE (``values``) or DELETE the rows of ``where``; the keys changed (RETURNING, else locked first)."""
    dialect = connection.dialect
    statement: Any = sa.delete(change.table) if values is None else sa.update(change.table).values(values)
    if dialect.delete_returning if values is None else dialect.update_returning:
        return _tuples(connection.execute(statement.where(where).returning(*change.pk)))
    keys = _locked(connection, change, where)
    if keys:
        rows = int(connection.execute(statement.where(key_in(change.pk, keys))).rowcount)
        if rows != len(keys):  # a concurrent writer got in: roll back rather than journal a wrong set
            raise VerificationError(
                f"replay of {change.table.name}: {rows} row(s) changed, {len(keys)} expected"
            )
    return keys


def _locked(connection: sa.Connection, change: Change, where: sa.ColumnElement[bool]) -> list[Key]:
    """The keys of ``where``'s rows, locked on servers (SQLite's write lock covers the transaction)."""
    query = sa.select(*change.pk).where(where)
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    return _tuples(connection.execute(query))
