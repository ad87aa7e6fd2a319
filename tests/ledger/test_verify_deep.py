"""``lethe ledger verify --deep`` on SQLite, PostgreSQL and MariaDB: every batch root recomputed from its journal
row; a changed leaf, a swapped pair, a changed root column or a missing row is named by seq and journal row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.proofs import ACCOUNTS_RULE, Enforced, accounts_store, enforce_rules
from support.retention import journal_rows

from lethe.ledger.deep import verify_deep
from lethe.ledger.journal import journal_ref
from lethe.ledger.leaves import LEAF_SIZE


@pytest.fixture
def accounts(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> Enforced:
    """23 expired accounts deleted in batches of 5: five batch entries and five journal rows."""
    accounts_store(db_engine, old=23, recent=2)
    return enforce_rules(db_url, tmp_path, ACCOUNTS_RULE, "accounts")


def _set(engine: sa.Engine, row_id: int, **values: Any) -> None:
    """Change columns of one journal row, as someone with write access to the store would."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with engine.begin() as connection:
        connection.execute(
            sa.text(f"UPDATE lethe_journal SET {assignments} WHERE id = :i"), {**values, "i": row_id}
        )


def test_deep_verify_of_an_intact_journal(accounts: Enforced) -> None:
    """Every batch is checked; the summary says how many."""
    result = accounts.run("verify", "--deep", "--policy", str(accounts.policy_path))
    assert result.exit_code == 0, result.stderr
    assert "deep OK: 5 batch roots recomputed from their journals" in result.stdout
    report = json.loads(
        accounts.run("verify", "--deep", "--policy", str(accounts.policy_path), "--json").stdout
    )
    assert report["deep"] == {"checked": 5, "skipped": {}, "findings": [], "ok": True}
    refused = accounts.run("verify", "--deep")
    assert refused.exit_code == 2 and "give --policy" in refused.stderr


def test_deep_verify_names_each_changed_batch(accounts: Enforced, db_engine: sa.Engine) -> None:
    """Batch 1: a leaf changed; 2: two leaves swapped; 3: its root column changed; 4: its row deleted;
    5: untouched. Each of the first four is reported with its seq and journal row, the fifth is not."""
    rows = journal_rows(db_engine)
    assert len(rows) == 5
    blobs = [bytes(row.leaves) for row in rows]
    changed = bytes([blobs[0][0] ^ 0x80]) + blobs[0][1:]
    swapped = blobs[1][LEAF_SIZE : 2 * LEAF_SIZE] + blobs[1][:LEAF_SIZE] + blobs[1][2 * LEAF_SIZE :]
    _set(db_engine, rows[0].id, leaves=changed)
    _set(db_engine, rows[1].id, leaves=swapped)
    _set(db_engine, rows[2].id, root=bytes(32))
    with db_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM lethe_journal WHERE id = :i"), {"i": rows[3].id})

    result = accounts.run("verify", "--deep", "--policy", str(accounts.policy_path))
    assert result.exit_code == 4
    lines = result.stderr.splitlines()
    assert lines[0] == "error: 4 batch(es) differ from their journal rows:"
    refs = [(int(row.ledger_seq), journal_ref("db", row)) for row in rows]
    expected = [
        (refs[0], "the blob's leaves do not give the root the entry records"),
        (refs[1], "the blob's leaves are not strictly ascending at index 1"),
        (refs[2], "the journal row's root column differs from the entry's root"),
        (refs[3], "its journal row is missing"),
    ]
    for (seq, ref), words in expected:
        assert any(line.startswith(f"entry {seq} (journal {ref}): ") and words in line for line in lines), (
            words
        )
    assert not any(f"entry {refs[4][0]} " in line for line in lines)
    # The chain itself is intact: plain verify passes, only --deep reads the journals.
    assert accounts.run("verify").exit_code == 0


def test_changed_blob_yields_no_proof(accounts: Enforced, db_engine: sa.Engine) -> None:
    """prove refuses a batch whose blob no longer gives its entry's root, rather than print a bad proof."""
    rows = journal_rows(db_engine)
    blob = bytes(rows[1].leaves)
    _set(db_engine, rows[1].id, leaves=blob[:-1] + bytes([blob[-1] ^ 1]))  # the last leaf changed, order kept
    args = ("prove", "--policy", str(accounts.policy_path), "--store", "db", "--table", "accounts", "--key")
    answers = [accounts.run(*args, str(key)) for key in range(6, 11)]  # the keys of the second batch
    assert sorted(a.exit_code for a in answers) == [1, 4, 4, 4, 4]  # the changed leaf is not found at all
    assert all("do not give the root that ledger entry" in a.stderr for a in answers if a.exit_code == 4)


def test_unknown_store_is_skipped_not_passed(accounts: Enforced) -> None:
    """A batch of a store the caller cannot open is counted as skipped."""
    ledger = accounts.ledger()
    try:
        report = verify_deep(ledger, lambda store: None)
    finally:
        ledger._engine.dispose()
    assert (report.checked, report.skipped, report.ok) == (0, {"db": 5}, True)
