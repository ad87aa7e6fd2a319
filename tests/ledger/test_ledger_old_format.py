"""Ledgers written before key ids and exact bytes keep verifying, on each engine, and take new entries.

The rows are built here from literal bodies (body version 1, no ``keys``), MACs computed from the chain's
definition (HMAC-SHA256 under HKDF(ledger key, "lethe/ledger/v1") of previous MAC, seq and body), exactly
as the code before this change wrote them, in a database without the ``lethe_keys`` table.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from support.ledger import KEY, make_entry

from lethe.crypto import key_id
from lethe.errors import LedgerTamperedError
from lethe.ledger.chain import Ledger
from lethe.ledger.tables import head_table, ledger_table
from lethe.ledger.verify import verify_ledger

MASTER = bytes.fromhex("ab" * 32)
_COMMON = (
    '"details":{"batch":%d,"dry":false,"note":"café ✓","ratio":0.5,"store":"shop"},'
    '"ended_at":"2024-05-01T12:00:0%d.373456+00:00","fingerprints":["fp1:%s"],"flow":"retention",'
    '"outcome":"ok","policy_hash":"sha256:'
    + "ab"
    * 32
    + '","recorded_at":"2024-05-01T12:00:00.123456+00:00",'
    '"rule":"orders-7y","run_id":"run-%d","started_at":"2024-05-01T12:00:0%d.123456+00:00","v":1}'
)
OLD_BODIES = [
    '{"action":"delete","counts":{"deleted":1,"scanned":10},'
    + _COMMON % (1, 1, "7a56bbccd4d5fb4d54cd1b0b68069aa4", 1, 1),
    '{"action":"delete","counts":{"deleted":2,"scanned":20},'
    + _COMMON % (2, 2, "2f1620fc8841c9a605293eb5ff0c7e49", 2, 2),
]


def _key(purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(KEY)


def write_old_ledger(engine: sa.Engine) -> None:
    """Two entries and their head, as the code before key ids wrote them."""
    prev, rows = bytes(32), []
    for seq, body in enumerate(OLD_BODIES, start=1):
        prev = hmac.new(
            _key("lethe/ledger/v1"), prev + seq.to_bytes(8, "big") + body.encode(), "sha256"
        ).digest()
        entry = make_entry(seq)
        rows.append(
            {
                "seq": seq, "recorded_at": datetime.fromisoformat("2024-05-01T12:00:00.123456+00:00"),
                "run_id": entry.run_id, "flow": entry.flow, "policy_hash": entry.policy_hash, "rule": entry.rule,
                "action": entry.action, "outcome": entry.outcome, "started_at": entry.started_at,
                "ended_at": entry.ended_at, "body": body, "mac": prev.hex(),
            }
        )  # fmt: skip
    head = hmac.new(_key("lethe/ledger/head/v1"), b"head" + (2).to_bytes(8, "big") + prev, hashlib.sha256)
    ledger_table.metadata.create_all(engine, tables=[ledger_table, head_table])
    with engine.begin() as connection:
        connection.execute(ledger_table.insert(), rows)
        connection.execute(head_table.insert().values(id=1, seq=2, mac=prev.hex(), head_mac=head.hexdigest()))


def test_old_ledger_verifies_and_takes_new_entries(db_engine: sa.Engine) -> None:
    """verify and show accept the old rows; an append registers the keys and records their ids."""
    write_old_ledger(db_engine)
    assert not sa.inspect(db_engine).has_table("lethe_keys")
    ledger = Ledger(db_engine, KEY, master_key=MASTER, key_version=1)
    report = verify_ledger(ledger)
    assert (report.ok, report.count, report.problem) == (True, 2, None)
    old = list(ledger.entries())
    assert [(r.seq, dict(r.keys), r.entry) for r in old] == [(1, {}, make_entry(1)), (2, {}, make_entry(2))]
    ledger.append(make_entry(3))
    assert verify_ledger(ledger).ok
    new = list(ledger.entries(since_seq=2))
    ids = {"ledger": key_id(KEY), "master": key_id(MASTER), "master_version": 1}
    assert [(r.seq, dict(r.keys)) for r in new] == [(3, ids)]
    assert {(k.kind, k.version, k.key_id) for k in ledger.registered_keys()} == {
        ("ledger", 1, key_id(KEY)),
        ("master", 1, key_id(MASTER)),
    }


def test_old_ledger_respelled_body_is_refused(db_engine: sa.Engine) -> None:
    """The exact-bytes rule applies to old entries too: whitespace added to entry 2 is named."""
    write_old_ledger(db_engine)
    with db_engine.begin() as connection:
        connection.execute(
            sa.update(ledger_table)
            .where(ledger_table.c.seq == 2)
            .values(body=OLD_BODIES[1].replace(",", ", "))
        )
    report = verify_ledger(Ledger(db_engine, KEY))
    assert not report.ok and report.first_bad_seq == 2
    assert "entry 2 was modified: its stored body is not in canonical form" in (report.problem or "")


def test_old_ledger_with_another_key_is_not_registered(db_engine: sa.Engine) -> None:
    """On a ledger without a registry, a wrong ledger key is refused by the head, and not registered."""
    write_old_ledger(db_engine)
    other = Ledger(db_engine, bytes.fromhex("22" * 32))
    with pytest.raises(LedgerTamperedError, match="head MAC invalid"):
        other.append(make_entry(3))
    assert Ledger(db_engine, KEY).registered_keys() == []
