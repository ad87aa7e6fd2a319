"""The ledger-side copy of journal leaves (``lethe_leaves``): made with each group copy, blob for blob, once,
and again after a crash between the ledger append and the copy (three engines for the store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from support.retention import make_settings

from lethe.crypto import key_id
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import ensure_journal, journal_ref, record_batch, transfer_pending
from lethe.ledger.leaves import leaves_of_scalars
from lethe.ledger.tables import leaves_table

MASTER = b"k" * 32


def record(engine: sa.Engine, table: sa.Table, keys: list[int]) -> int:
    with engine.begin() as connection:
        return record_batch(
            connection, table, run_id="r", flow="retention", rule="people", batch_no=1, action="delete",
            policy_hash="0" * 64, counts={"rows": len(keys)}, leaves=leaves_of_scalars(MASTER, "db", "people", keys),
            key_id=key_id(MASTER), span=(None, None), started_at=datetime.now(UTC),
        )  # fmt: skip


def copies(ledger: Ledger) -> list[sa.Row[object]]:
    with ledger.connect() as connection:
        return list(connection.execute(sa.select(leaves_table).order_by(leaves_table.c.ref)))


def test_each_copied_batch_keeps_its_leaves_in_the_ledger_database(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    ledger = Ledger.from_settings(make_settings(tmp_path))
    table = ensure_journal(db_engine)
    record(db_engine, table, [1, 2, 3])
    record(db_engine, table, [7])
    assert transfer_pending(db_engine, "db", ledger) == 2
    with db_engine.connect() as connection:
        journal = {journal_ref("db", row): row for row in connection.execute(sa.select(table))}
    copied = copies(ledger)
    assert {c.ref for c in copied} == set(journal)
    for c in copied:
        assert bytes(c.leaves) == bytes(journal[c.ref].leaves) and c.leaf_count == journal[c.ref].leaf_count
        assert (c.store, c.rule, c.action, c.key_id) == ("db", "people", "delete", key_id(MASTER))

    # A crash after the ledger append, before the leaves were copied and the rows marked: the next copy adds
    # the missing leaves, and neither a ledger entry nor a copy twice.
    entries = len(list(ledger.entries()))
    with ledger.connect() as connection, connection.begin():
        connection.execute(sa.delete(leaves_table).where(leaves_table.c.ref == copied[0].ref))
    with db_engine.begin() as connection:
        connection.execute(table.update().values(ledger_seq=None))
    assert transfer_pending(db_engine, "db", ledger) == 0
    assert len(list(ledger.entries())) == entries
    assert [(c.ref, bytes(c.leaves)) for c in copies(ledger)] == [(c.ref, bytes(c.leaves)) for c in copied]
    ledger._engine.dispose()
