"""The batch journal holds a whole default-size batch of fingerprints on every engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from lethe.crypto import fingerprinter
from lethe.journal import ensure_journal, record_batch


def test_a_batch_of_six_thousand_fingerprints_fits(db_engine: sa.Engine) -> None:
    # ~220 KB of JSON: more than MariaDB's TEXT (64 KiB) holds.
    fingerprint = fingerprinter(b"k" * 32, "db.people")
    prints = [fingerprint(i) for i in range(6000)]
    table = ensure_journal(db_engine)
    with db_engine.begin() as connection:
        journal_id = record_batch(
            connection, table, run_id="r", flow="retention", rule="people", batch_no=1, action="delete",
            policy_hash="0" * 64, counts={"rows": 6000}, fingerprints=prints, started_at=datetime.now(UTC),
        )  # fmt: skip
    with db_engine.connect() as connection:
        body = connection.execute(sa.select(table.c.body).where(table.c.id == journal_id)).scalar_one()
    assert json.loads(body)["fingerprints"] == prints
