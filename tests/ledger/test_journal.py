"""The batch journal: a whole default-size batch fits, references never collide, older journals are upgraded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from support.databases import make_engine
from support.retention import make_settings

from lethe.crypto import fingerprinter
from lethe.errors import StoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import JOURNAL_TABLE, ensure_journal, journal_table, record_batch, transfer_pending

FINGERPRINT = fingerprinter(b"k" * 32, "db.people")


def record(engine: sa.Engine, table: sa.Table, prints: list[str] | None = None) -> int:
    """One journalled batch, committed (as if the run died before copying it to the ledger)."""
    prints = prints if prints is not None else [FINGERPRINT(1), FINGERPRINT(2)]
    with engine.begin() as connection:
        return record_batch(
            connection, table, run_id="r", flow="retention", rule="people", batch_no=1, action="delete",
            policy_hash="0" * 64, counts={"rows": len(prints)}, fingerprints=prints, started_at=datetime.now(UTC),
        )  # fmt: skip


def test_a_batch_of_six_thousand_fingerprints_fits(db_engine: sa.Engine) -> None:
    # ~220 KB of JSON: more than MariaDB's TEXT (64 KiB) holds.
    prints = [FINGERPRINT(i) for i in range(6000)]
    table = ensure_journal(db_engine)
    journal_id = record(db_engine, table, prints)
    with db_engine.connect() as connection:
        body = connection.execute(sa.select(table.c.body).where(table.c.id == journal_id)).scalar_one()
    assert json.loads(body)["fingerprints"] == prints


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


def old_journal(engine: sa.Engine) -> None:
    """The journal as the first release made it (no uid, a TEXT body on MariaDB), with one unmarked row."""
    md = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in journal_table().c
    ]
    old = sa.Table(JOURNAL_TABLE, md, *(c for c in columns if c.name != "uid"))
    old.c.body.type = sa.Text()
    old.create(engine)
    body = {
        "counts": {"rows": 1}, "fingerprints": [FINGERPRINT(0)],
        "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:00:01+00:00",
    }  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            old.insert().values(
                run_id="r0", flow="retention", rule="people", batch_no=1, action="delete", policy_hash="0" * 64,
                body=json.dumps(body), created_at=datetime.now(UTC),
            )
        )  # fmt: skip


def test_a_journal_of_an_earlier_version_is_upgraded_and_its_rows_still_reach_the_ledger(
    db_engine: sa.Engine, tmp_path: Path
) -> None:
    old_journal(db_engine)

    table = ensure_journal(db_engine)
    columns = {c["name"]: c["type"] for c in sa.inspect(db_engine).get_columns(JOURNAL_TABLE)}
    assert "uid" in columns
    if db_engine.dialect.name in ("mysql", "mariadb"):
        assert isinstance(columns["body"], mysql.LONGTEXT)
    record(db_engine, table, [FINGERPRINT(i) for i in range(6000)])  # fits once upgraded

    ledger = Ledger.from_settings(make_settings(tmp_path))
    assert transfer_pending(db_engine, "db", ledger) == 2
    refs = [e.entry.details["journal"] for e in ledger.entries()]
    assert refs[0] == "db:1" and refs[1].startswith("db:2:")  # the older row keeps its reference
    assert ensure_journal(db_engine) is not None and transfer_pending(db_engine, "db", ledger) == 0


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
