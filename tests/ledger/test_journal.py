"""The batch journal: the largest batch fits, references never collide, older journals are upgraded.

Journal v2 rows hold a batch's Merkle root and leaves (one blob); v1 rows (a fingerprint per key in JSON) made
by earlier versions keep reaching the ledger and verifying after the upgrade.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from support.databases import make_engine
from support.journal import old_journal
from support.retention import make_settings

from lethe.crypto import fingerprinter, key_id
from lethe.errors import StoreError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import (
    JOURNAL_TABLE,
    V2_COLUMNS,
    ensure_journal,
    journal_table,
    record_batch,
    transfer_pending,
)
from lethe.ledger.leaves import leaves_of_scalars, unpack
from lethe.ledger.verify import verify_ledger
from lethe.retention.spans import CEILING_ROWS

MASTER = b"k" * 32
FINGERPRINT = fingerprinter(MASTER, "db.people")


def record(engine: sa.Engine, table: sa.Table, keys: list[int] | None = None) -> int:
    """One journalled v2 batch, committed (as if the run died before copying it to the ledger)."""
    keys = keys if keys is not None else [1, 2]
    with engine.begin() as connection:
        return record_batch(
            connection, table, run_id="r", flow="retention", rule="people", batch_no=1, action="delete",
            policy_hash="0" * 64, counts={"rows": len(keys)}, leaves=leaves_of_scalars(MASTER, "db", "people", keys),
            key_id=key_id(MASTER), span=(None, FINGERPRINT(keys[-1])), started_at=datetime.now(UTC),
        )  # fmt: skip


def test_the_largest_batch_fits_as_one_blob_with_its_root(db_engine: sa.Engine) -> None:
    # 250,000 leaves of 16 bytes: 4 MB, far more than MariaDB's BLOB (64 KiB) holds.
    keys = list(range(CEILING_ROWS))
    table = ensure_journal(db_engine)
    journal_id = record(db_engine, table, keys)
    with db_engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.id == journal_id)).one()
    leaves = leaves_of_scalars(MASTER, "db", "people", keys)
    assert unpack(bytes(row.leaves)) == leaves and row.leaf_count == len(keys)
    assert bytes(row.root) == merkle.root(leaves) and row.key_id == key_id(MASTER)
    assert json.loads(row.table_counts) == {"rows": len(keys)}
    assert "fingerprints" not in json.loads(row.body) and len(row.body) < 300


def test_two_databases_under_one_store_name_share_a_ledger_without_losing_a_batch(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    """Journal ids collide across databases; the uid in the reference keeps each batch's evidence apart."""
    ledger = Ledger.from_settings(make_settings(tmp_path))
    other = make_engine(f"sqlite:///{tmp_path}/other.db")
    try:
        record(other, ensure_journal(other))
        assert transfer_pending(other, "db", ledger) == 1
        # The same store name and the same journal id (1) in another database, not yet in the ledger.
        journal_id = record(db_engine, ensure_journal(db_engine))
        assert journal_id == 1
        assert transfer_pending(db_engine, "db", ledger) == 1
    finally:
        other.dispose()
    refs = [e.entry.details["journal"] for e in ledger.entries()]
    assert len(refs) == 2 and len(set(refs)) == 2 and all(r.startswith("db:1:") for r in refs)
    with db_engine.connect() as connection:
        marked = connection.execute(sa.select(journal_table().c.ledger_seq)).scalar_one()
    assert marked == 2  # its own entry, not the other database's


@pytest.mark.parametrize("uid", [False, True], ids=["first-release", "before-v2"])
def test_a_journal_of_an_earlier_version_is_upgraded_and_its_rows_still_reach_the_ledger(
    db_engine: sa.Engine, tmp_path: Path, uid: bool
) -> None:
    old_journal(db_engine, uid=uid)

    # The first copy upgrades the journal itself (a store whose journal an older version made).
    ledger = Ledger.from_settings(make_settings(tmp_path))
    assert transfer_pending(db_engine, "db", ledger) == 1
    table = ensure_journal(db_engine)
    columns = {c["name"]: c["type"] for c in sa.inspect(db_engine).get_columns(JOURNAL_TABLE)}
    assert {"uid", *V2_COLUMNS} <= set(columns)
    if db_engine.dialect.name in ("mysql", "mariadb"):
        assert isinstance(columns["body"], mysql.LONGTEXT)
    record(db_engine, table, list(range(6000)))  # a v2 row beside the v1 one

    assert transfer_pending(db_engine, "db", ledger) == 1
    old, new = list(ledger.entries())
    assert old.entry.details["journal"] == "db:1" and old.entry.fingerprints == (FINGERPRINT(0),)
    assert new.entry.details["journal"].startswith("db:2:") and new.entry.fingerprints == ()
    assert (
        new.entry.details["root"] == merkle.root(leaves_of_scalars(MASTER, "db", "people", range(6000))).hex()
    )
    assert ensure_journal(db_engine) is not None and transfer_pending(db_engine, "db", ledger) == 0
    assert verify_ledger(ledger).ok
    ledger._engine.dispose()


def test_a_journal_the_role_cannot_alter_fails_with_the_statements_its_owner_must_run(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    writer = make_engine(f"sqlite:///{path}")
    old_journal(writer)
    writer.dispose()
    # A read-only connection stands for a role that may not alter the table.
    reader = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(StoreError) as raised:
            ensure_journal(reader)
    finally:
        reader.dispose()
    assert "have its owner run: ALTER TABLE lethe_journal ADD COLUMN uid VARCHAR(32) NULL" in str(
        raised.value
    )
