"""The evidence ledger on real databases: appending and reading entries, what an entry refuses, settings.

Tampering is in ``test_ledger_tampering.py``, concurrent appenders and the servers in
``test_ledger_concurrency.py``, the ``lethe ledger`` commands in ``test_ledger_cli.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.ledger import KEY, make_entry

from lethe.errors import LedgerError, SettingsError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger, verify_or_raise
from lethe.settings import load_settings


def test_round_trip(ledger: Ledger) -> None:
    """Entries come back equal, in seq order, with since/limit/run filters, across a page boundary."""
    got = list(ledger.entries())
    assert [r.seq for r in got] == [1, 2, 3, 4, 5]
    assert [r.entry for r in got] == [make_entry(i) for i in range(1, 6)]
    assert got[0].entry.started_at.utcoffset() == timedelta(0)
    assert got[0].recorded_at.tzinfo is not None and len(got[0].mac) == 64
    assert [r.seq for r in ledger.entries(since_seq=2, limit=2)] == [3, 4]
    assert [r.seq for r in ledger.entries(run_id="run-4")] == [4]
    ledger.append_many([make_entry(i) for i in range(6, 1206)])
    assert [r.seq for r in ledger.entries(since_seq=498, limit=4)] == [499, 500, 501, 502]
    assert verify_ledger(ledger).count == 1205


def test_verify_ok(ledger: Ledger) -> None:
    """An untouched ledger verifies, and its head is the last entry."""
    report = verify_or_raise(ledger)
    last = list(ledger.entries())[-1]
    assert (report.ok, report.count, report.first_bad_seq, report.problem) == (True, 5, None, None)
    assert ledger.head() == (report.head_seq, report.head_mac) == (5, last.mac)
    assert verify_ledger(ledger, expected_head=(3, list(ledger.entries())[2].mac), min_count=5).ok


def test_empty_ledger_verifies(url: str) -> None:
    """A new ledger is empty and consistent."""
    led = Ledger(sa.create_engine(url), KEY)
    assert led.head() is None
    assert verify_ledger(led) == verify_or_raise(led)
    assert (verify_ledger(led).count, verify_ledger(led).head_seq) == (0, None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"fingerprints": ["alice@example.com"]},
        {"fingerprints": ["fp-alice@example.com"]},
        {"fingerprints": "fp1:" + "a" * 32},
        {"started_at": datetime(2024, 5, 1)},
        {"counts": {"deleted": "3"}},
        {"details": {"email": ["alice@example.com"]}},
        {"details": {"ratio": float("nan")}},
        {"flow": "x" * 300},
    ],
)
def test_entry_rejects_raw_or_bad_values(overrides: dict[str, Any]) -> None:
    """Raw values, naive datetimes and non-scalar extras never reach the ledger, nor its error messages."""
    with pytest.raises(LedgerError) as caught:
        make_entry(1, **overrides)
    assert "alice" not in str(caught.value)


def test_append_on_follows_the_callers_transaction(url: str) -> None:
    """append_on writes in the caller's transaction: rolled back with it, committed with it."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.create_schema()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        led.append_on(conn, [make_entry(1)])
        raise RuntimeError("the data change failed")
    assert verify_ledger(led).count == 0
    with engine.begin() as conn:
        assert [r.seq for r in led.append_on(conn, [make_entry(1), make_entry(2)])] == [1, 2]
    assert verify_or_raise(led).count == 2
    engine.dispose()


def test_from_settings_creates_the_folder_and_hides_passwords(tmp_path: Path) -> None:
    """The SQLite folder is created; a driver error names the URL without its password or the driver text."""
    settings = load_settings(
        {"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/a/b/ledger.db", "LETHE_LEDGER_KEY": KEY.hex()}
    )
    Ledger.from_settings(settings).append(make_entry(1))
    assert (tmp_path / "a" / "b" / "ledger.db").is_file()
    with pytest.raises(SettingsError, match="LETHE_LEDGER_KEY is not set"):
        Ledger.from_settings(load_settings({"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/x.db"}))
    with pytest.raises(SettingsError, match="not a usable SQLAlchemy URL"):
        Ledger.from_settings(load_settings({"LETHE_LEDGER_URL": "nope://", "LETHE_LEDGER_KEY": KEY.hex()}))
    closed = Ledger(sa.create_engine("postgresql+psycopg://u:s3cret@127.0.0.1:9/db"), KEY)
    with pytest.raises(LedgerError) as caught:
        closed.append(make_entry(1))
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
