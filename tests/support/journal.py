"""A journal as earlier versions of Lethe made it, with a version 1 row (a fingerprint per key in JSON).

Imported by ``tests/ledger/test_journal.py`` and ``tests/retention/test_retention_spans.py``, which upgrade it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from lethe.crypto import fingerprinter
from lethe.ledger.journal import JOURNAL_TABLE, V2_COLUMNS, journal_table

MASTER = b"k" * 32
FINGERPRINT = fingerprinter(MASTER, "db.people")


def old_journal(engine: sa.Engine, *, uid: bool = False) -> None:
    """The journal as the first release made it (no uid, a TEXT body on MariaDB), or with ``uid`` as the
    release before journal v2 made it (no root, no leaves), with one unmarked v1 row (fingerprints in JSON)."""
    md = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in journal_table().c
    ]
    dropped = {*V2_COLUMNS, *(() if uid else ("uid",))}
    old = sa.Table(JOURNAL_TABLE, md, *(c for c in columns if c.name not in dropped))
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
