"""Every kind of tampering with the evidence ledger is detected and named: edits, holes, reordering, heads.

Each test edits the SQLite ledger file with raw SQL, as someone with database access but without the key
would, and checks what verification reports.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.ledger import KEY, OTHER_KEY, assert_tampered, make_entry, sql

from lethe.errors import LedgerError, LedgerTamperedError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger


def test_modified_body_is_detected(ledger: Ledger, url: str) -> None:
    """Editing a count inside the signed body breaks entry 3's MAC."""
    (body,) = sql(url, "SELECT body FROM lethe_ledger WHERE seq = 3")[0]
    tampered = json.loads(body)
    tampered["counts"]["deleted"] = 0
    sql(url, "UPDATE lethe_ledger SET body = :b WHERE seq = 3", b=json.dumps(tampered))
    assert_tampered(ledger, 3, "entry 3 was modified")


def test_modified_mac_is_detected(ledger: Ledger, url: str) -> None:
    """Replacing a stored MAC is a modification of that entry."""
    sql(url, "UPDATE lethe_ledger SET mac = :m WHERE seq = 4", m="0" * 64)
    assert_tampered(ledger, 4, "entry 4 was modified")


@pytest.mark.parametrize(
    ("column", "value"),
    [("flow", "other"), ("outcome", "failed"), ("rule", None), ("started_at", "2020-01-01 00:00:00.000000")],
)
def test_modified_indexed_column_is_detected(ledger: Ledger, url: str, column: str, value: Any) -> None:
    """Editing only an indexed column (body untouched) is caught by comparing it with the body."""
    sql(url, f"UPDATE lethe_ledger SET {column} = :v WHERE seq = 2", v=value)
    assert_tampered(ledger, 2, f"column {column} differs")


def test_deleted_middle_entry_is_detected(ledger: Ledger, url: str) -> None:
    """A hole in the sequence is named."""
    sql(url, "DELETE FROM lethe_ledger WHERE seq = 3")
    assert_tampered(ledger, 3, "entry 3 is missing (gap between 2 and 4)")


def test_swapped_seq_values_are_detected(ledger: Ledger, url: str) -> None:
    """Swapping two rows' positions is reported as reordering."""
    sql(url, "UPDATE lethe_ledger SET seq = -1 WHERE seq = 2")
    sql(url, "UPDATE lethe_ledger SET seq = 2 WHERE seq = 3")
    sql(url, "UPDATE lethe_ledger SET seq = 3 WHERE seq = -1")
    assert_tampered(ledger, 2, "entries out of order: the entry signed as 2 is stored at seq 3")


def test_swapped_bodies_and_macs_are_detected(ledger: Ledger, url: str) -> None:
    """Swapping only bodies and MACs (indexed columns left) is reordering too."""
    rows = {seq: (body, mac) for seq, body, mac in sql(url, "SELECT seq, body, mac FROM lethe_ledger")}
    for seq, other in ((3, 4), (4, 3)):
        sql(
            url,
            "UPDATE lethe_ledger SET body = :b, mac = :m WHERE seq = :s",
            b=rows[other][0],
            m=rows[other][1],
            s=seq,
        )
    assert_tampered(ledger, 3, "entries out of order")


def test_truncated_tail_is_detected(ledger: Ledger, url: str) -> None:
    """Deleting the last entries while the head row stays is a truncation."""
    sql(url, "DELETE FROM lethe_ledger WHERE seq >= 4")
    assert_tampered(ledger, 4, "head records 5 entries but the ledger ends at 3: tail truncated")


def test_deleted_head_row_is_detected(ledger: Ledger, url: str) -> None:
    """Entries without a head are reported, and appending refuses to paper over it."""
    sql(url, "DELETE FROM lethe_ledger_head")
    assert_tampered(ledger, None, "head row missing while 5 entries exist")
    with pytest.raises(LedgerError, match="head row missing"):
        ledger.append(make_entry(6))


def test_forged_head_is_detected(ledger: Ledger, url: str) -> None:
    """A truncation hidden by a head rewritten without the key fails on the head MAC."""
    mac3 = sql(url, "SELECT mac FROM lethe_ledger WHERE seq = 3")[0][0]
    sql(url, "DELETE FROM lethe_ledger WHERE seq >= 4")
    sql(url, "UPDATE lethe_ledger_head SET seq = 3, mac = :m, head_mac = :h", m=mac3, h="0" * 64)
    assert_tampered(ledger, None, "head MAC invalid")
    with pytest.raises(LedgerTamperedError, match="head MAC invalid"):
        ledger.head()
    with pytest.raises(LedgerError, match="head MAC invalid"):
        ledger.append(make_entry(6))


def test_restored_old_head_is_detected(ledger: Ledger, url: str) -> None:
    """An older (validly signed) head row put back leaves entries the head does not cover."""
    old = sql(url, "SELECT seq, mac, head_mac FROM lethe_ledger_head")[0]
    ledger.append(make_entry(6))
    sql(url, "UPDATE lethe_ledger_head SET seq = :s, mac = :m, head_mac = :h", s=old[0], m=old[1], h=old[2])
    assert_tampered(ledger, 6, "entries after 5 are not covered by the head")


def test_whole_wipe_needs_an_anchor(ledger: Ledger, url: str) -> None:
    """Deleting everything looks like an empty ledger; only min_count or the anchor catch it."""
    anchor = ledger.head()
    assert anchor is not None
    sql(url, "DELETE FROM lethe_ledger")
    sql(url, "DELETE FROM lethe_ledger_head")
    assert verify_ledger(ledger).ok
    by_count = verify_ledger(ledger, min_count=5)
    assert (by_count.ok, by_count.first_bad_seq) == (False, 1)
    assert "0 entries, fewer than the 5 expected" in (by_count.problem or "")
    by_anchor = verify_ledger(ledger, expected_head=anchor)
    assert (by_anchor.ok, by_anchor.first_bad_seq) == (False, 1)
    assert "the anchor expects entry 5 but the ledger ends at 0" in (by_anchor.problem or "")


def test_rollback_to_backup_needs_an_anchor(tmp_path: Path, url: str) -> None:
    """A consistent older copy (entries and head) verifies; the anchor of a later head catches it."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.append_many([make_entry(i) for i in range(1, 4)])
    engine.dispose()
    shutil.copy(tmp_path / "ledger.db", tmp_path / "backup.db")
    led.append_many([make_entry(4), make_entry(5)])
    anchor = led.head()
    assert anchor is not None
    engine.dispose()
    shutil.copy(tmp_path / "backup.db", tmp_path / "ledger.db")
    assert verify_ledger(led).ok
    report = verify_ledger(led, expected_head=anchor)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    rewritten = verify_ledger(led, expected_head=(2, "ab" * 32))
    assert (rewritten.first_bad_seq, rewritten.problem) == (2, rewritten.problem)
    assert "does not match the anchor" in (rewritten.problem or "")


def test_wrong_key_fails(ledger: Ledger, url: str) -> None:
    """Another key cannot verify (or append to) the ledger: the key registry names it as the wrong key."""
    other = Ledger(sa.create_engine(url), OTHER_KEY)
    assert_tampered(other, 1, "wrong LETHE_LEDGER_KEY")
    with pytest.raises(LedgerTamperedError, match=r"head MAC invalid: wrong LETHE_LEDGER_KEY \(id \w+; this"):
        other.append(make_entry(6))
