"""Shared builders of the ledger tests: realistic entries, raw SQL as an attacker would run it, tamper checks.

Imported by ``tests/ledger/test_ledger*.py`` and ``tests/ledger/conftest.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from lethe.crypto import fingerprint
from lethe.errors import LedgerTamperedError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.verify import verify_ledger, verify_or_raise

KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_entry(i: int, **overrides: Any) -> LedgerEntry:
    """A realistic entry: counts, fingerprints and non-personal details only."""
    fields: dict[str, Any] = {
        "run_id": f"run-{i}",
        "flow": "retention",
        "policy_hash": "sha256:" + "ab" * 32,
        "rule": "orders-7y",
        "action": "delete",
        "outcome": "ok",
        # Another zone than UTC on purpose: it must come back as the same instant.
        "started_at": (T0 + timedelta(seconds=i)).astimezone(timezone(timedelta(hours=2))),
        "ended_at": T0 + timedelta(seconds=i, milliseconds=250),
        "counts": {"deleted": i, "scanned": 10 * i},
        "fingerprints": (fingerprint(KEY, "shop.customers", i),),
        "details": {"batch": i, "store": "shop", "note": "café ✓", "ratio": 0.5, "dry": False},
    }
    fields.update(overrides)
    return LedgerEntry(**fields)


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    """Run raw SQL as an attacker with database access (but no key) would, and return any rows."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def assert_tampered(led: Ledger, first_bad: int | None, words: str) -> None:
    """Verification fails, names ``first_bad`` and says ``words``; verify_or_raise raises the same."""
    report = verify_ledger(led)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.problem
    assert words in (report.problem or ""), report.problem
    with pytest.raises(LedgerTamperedError, match=re.escape(words)):
        verify_or_raise(led)
