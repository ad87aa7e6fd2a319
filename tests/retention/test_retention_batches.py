"""Retention batches on SQLite, PostgreSQL and MariaDB: their size, progress, and their evidence.

Each batch and each rule is in the ledger (a Merkle root and counts, never keys or values) and in the store's
journal (the root and the batch's leaves as one blob).

As in ``test_retention.py``: a purpose-made table in a fresh database per test (``db_url``), enforced
through ``lethe.retention.enforce`` against a real SQLite evidence ledger (fixtures in ``conftest.py``).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import sqlalchemy as sa
from support.retention import (
    MASTER_KEY_HEX,
    NEW,
    OLD,
    NewRun,
    batch_entries,
    delete_rule,
    ids,
    insert,
    journal_rows,
    ledger_entries,
    make_policy,
    make_table,
    summary_entries,
)

from lethe.crypto import fingerprint, key_id
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import journal_ref
from lethe.ledger.leaves import leaves_of, unpack
from lethe.ledger.verify import verify_ledger
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.settings import Settings


def test_each_batch_and_each_rule_is_in_the_ledger_with_its_merkle_root_never_keys_or_values(
    db_url: str, db_engine: sa.Engine, settings: Settings, tmp_path: Path, new_run: NewRun
) -> None:
    accounts = sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("login", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    accounts.create(db_engine)
    logins = [f"login-qxz7-{i:02d}" for i in range(10)]
    insert(
        db_engine,
        accounts,
        [
            {"login": lg, "email": f"marker-qxz7+{i}@example.com", "closed_at": OLD}
            for i, lg in enumerate(logins)
        ]
        + [{"login": "still-open", "email": "open@example.com", "closed_at": None}],
    )
    policy = make_policy(db_url, delete_rule("accounts", "accounts", "closed_at"))
    run = new_run(policy)
    result = enforce_rule(run, policy.rule("accounts"), batch_size=4)
    assert (result.applied, result.batches) == (10, 3)

    entries = ledger_entries(settings)
    batches, (summary,) = batch_entries(entries, "accounts"), summary_entries(entries, "accounts")
    journal = journal_rows(db_engine)
    assert [e.entry.details["journal"] for e in batches] == [journal_ref("db", row) for row in journal]
    assert [row.ledger_seq for row in journal] == [e.seq for e in batches]
    assert [e.entry.counts["rows"] for e in batches] == [4, 4, 2]
    assert all(e.entry.run_id == run.run_id and e.entry.action == "delete" for e in batches)
    # Nothing per key in the ledger: each entry names its batch's root, leaf count and master key id.
    master = bytes.fromhex(MASTER_KEY_HEX)
    assert all(e.entry.fingerprints == () for e in batches)
    assert [e.entry.details["leaf_count"] for e in batches] == [4, 4, 2]
    assert {e.entry.details["key_id"] for e in batches} == {key_id(master)}
    # The journal holds the sorted leaves of exactly the batch's keys, and the root over them.
    spans = [logins[0:4], logins[4:8], logins[8:10]]
    for row, entry, span in zip(journal, batches, spans, strict=True):
        leaves = leaves_of(master, "db", "accounts", [(lg,) for lg in span])
        assert unpack(bytes(row.leaves)) == leaves and bytes(row.root) == merkle.root(leaves)
        assert entry.entry.details["root"] == merkle.root(leaves).hex()
    # Span ends as fingerprints: after login-03 and login-07; the last span is open (fewer rows remained).
    ends = [
        None,
        fingerprint(master, "db.accounts", logins[3]),
        fingerprint(master, "db.accounts", logins[7]),
        None,
    ]
    assert [(e.entry.details["span_after"], e.entry.details["span_upto"]) for e in batches] == list(
        pairwise(ends)
    )
    assert summary.seq > batches[-1].seq
    assert (summary.entry.outcome, summary.entry.action) == ("completed", "retention.delete")
    assert {k: summary.entry.counts[k] for k in ("applied", "batches", "remaining")} == {
        "applied": 10,
        "batches": 3,
        "remaining": 0,
    }
    ledger = Ledger.from_settings(settings)
    try:
        assert verify_ledger(ledger).ok
    finally:
        ledger._engine.dispose()
    # No key and no value reached the ledger (any file of it) or the journal; the marker is not hex, so a
    # MAC or fingerprint cannot contain it by chance.
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.db")]
    assert files and not any(b"qxz7" in p.read_bytes() for p in files)
    assert not any("qxz7" in row.body for row in journal)


def test_batches_of_seven_over_fifty_rows_and_progress(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD if i <= 50 else NEW} for i in range(1, 61)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 7"))
    run = new_run(policy)
    calls: list[tuple[int, int]] = []

    assert (plan_rule(run, policy.rule("events")).batches) == 8
    result = enforce_rule(
        run, policy.rule("events"), progress=lambda done, total: calls.append((done, total))
    )
    assert (result.applied, result.batches) == (50, 8)
    assert calls == [(min(7 * n, 50), 50) for n in range(1, 9)]
    batches = batch_entries(ledger_entries(settings), "events")
    assert [e.entry.counts["rows"] for e in batches] == [7] * 7 + [1]
    assert [e.entry.details["batch"] for e in batches] == list(range(1, 9))
    assert ids(db_engine, "events") == list(range(51, 61))


def test_progress_takes_the_plans_count_instead_of_counting_again(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD} for i in range(1, 11)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 4"))
    calls: list[tuple[int, int]] = []
    # A total the table does not have: shown as given, so the rows were not counted a second time.
    enforce_rule(
        new_run(policy), policy.rule("events"), progress=lambda d, t: calls.append((d, t)), expected=40
    )
    assert calls == [(4, 40), (8, 40), (10, 40), (10, 10)]  # fewer than expected: it ends at 100%
