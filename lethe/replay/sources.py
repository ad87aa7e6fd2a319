"""The journal rows a replay re-applies: ledger-side copies (``lethe_leaves``) and the restored store journal.

The ledger holds each batch's root, not its leaves; every group copy also copies the leaves of the rows it
copies into the ledger's database (``lethe.ledger.journal.copy_leaves``). A store restored from a backup has
lost its journal rows newer than the backup, so those come from the ledger side; rows of the restored journal
that were never copied there (journalled before ``lethe_leaves`` existed) are read from the store. Both are
merged by their journal reference. The replay's own rows (flow ``replay``) are left out: they only repeat rows
that are replayed anyway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import LedgerError, LedgerTamperedError, StoreError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import JOURNAL_TABLE, aware, journal_ref, journal_table
from lethe.ledger.leaves import unpack
from lethe.ledger.tables import leaves_table

REPLAY_FLOW = "replay"


@dataclass(frozen=True)
class JournalRecord:
    """One journalled change with its leaves: a retention batch, or a request's part in one store."""

    ref: str
    store: str
    created_at: datetime
    run_id: str
    flow: str
    rule: str
    action: str
    key_id: str | None
    tables: dict[str, int]  # a batch: ``rows`` and child labels; a request: leaves per table name
    leaves: frozenset[bytes]
    body: dict[str, Any]

    @property
    def request(self) -> bool:
        """True for a request's row (it holds a whole ledger entry), False for a retention batch."""
        return "entry" in self.body


def _record(ref: str, store: str, row: Any) -> JournalRecord:
    return JournalRecord(
        ref=ref, store=store, created_at=aware(row.created_at), run_id=row.run_id, flow=row.flow,
        rule=row.rule, action=row.action, key_id=row.key_id, tables=json.loads(row.table_counts or "{}"),
        leaves=frozenset(unpack(bytes(row.leaves))), body=json.loads(row.body),
    )  # fmt: skip


def ledger_records(ledger: Ledger, stores: Sequence[str], since: datetime) -> list[JournalRecord]:
    """The ledger-side copies of journal rows of ``stores`` made at or after ``since``."""
    ledger.create_schema()
    t = leaves_table
    query = sa.select(t).where(t.c.store.in_(list(stores)), t.c.created_at >= since, t.c.flow != REPLAY_FLOW)
    try:
        with ledger.connect() as connection:
            rows = connection.execute(query.order_by(t.c.created_at, t.c.ref)).all()
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot read lethe_leaves at {ledger.url} ({exc.__class__.__name__})") from None
    return [_record(row.ref, row.store, row) for row in rows]


def store_records(engine: Engine, store: str, since: datetime) -> list[JournalRecord]:
    """The restored journal's rows with leaves made at or after ``since`` (none without a journal)."""
    t = journal_table()
    # The column keeps UTC; SQLite and MariaDB keep it without a zone.
    bound = since if engine.dialect.name == "postgresql" else since.replace(tzinfo=None)
    query = sa.select(t).where(t.c.leaf_count > 0, t.c.created_at >= bound, t.c.flow != REPLAY_FLOW)
    try:
        if not sa.inspect(engine).has_table(JOURNAL_TABLE):
            return []
        columns = {c["name"] for c in sa.inspect(engine).get_columns(JOURNAL_TABLE)}
        if "leaves" not in columns:  # a journal older than leaves: nothing to replay from it
            return []
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(t.c.id)).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"store {store}: cannot read {JOURNAL_TABLE} ({exc.__class__.__name__})") from None
    return [_record(journal_ref(store, row), store, row) for row in rows]


def check_roots(ledger: Ledger, records: Sequence[JournalRecord], *, pending_ok: bool = False) -> None:
    """Refuse leaves that are not the ones the ledger's entries hold the roots of (LedgerTamperedError, exit 4).

    ``lethe_leaves`` is outside the MAC chain: a row inserted or edited there could make a replay delete rows
    that were only anonymised. Each record must have a ledger entry naming its journal reference, with the
    same action, leaf count and Merkle root. ``pending_ok`` lets a record without an entry pass (a dry run,
    which does not copy the restored journal's pending rows first).
    """
    wanted = {r.ref: r for r in records}
    seen: dict[str, tuple[str, object, object]] = {}
    for run_id in sorted({r.run_id for r in records}):
        for recorded in ledger.entries(run_id=run_id):
            ref = recorded.entry.details.get("journal")
            if isinstance(ref, str) and ref in wanted:
                details = recorded.entry.details
                seen[ref] = (recorded.entry.action, details.get("leaf_count"), details.get("root"))
    for ref, record in wanted.items():
        if ref not in seen:
            if pending_ok:
                continue
            raise LedgerError(
                f"journal row {ref} has no ledger entry: its leaves cannot be trusted; nothing was changed"
            )
        action, count, root = seen[ref]
        if (action, count, root) != (
            record.action,
            len(record.leaves),
            merkle.root(sorted(record.leaves)).hex(),
        ):
            raise LedgerTamperedError(
                f"the leaves of journal row {ref} do not give the root its ledger entry holds (edited or forged "
                "lethe_leaves?): nothing was changed"
            )


def merged(*sources: Sequence[JournalRecord]) -> list[JournalRecord]:
    """Records of every source, each reference once, oldest first."""
    seen: dict[str, JournalRecord] = {}
    for source in sources:
        for record in source:
            seen.setdefault(record.ref, record)
    return sorted(seen.values(), key=lambda r: (r.created_at, r.ref))
