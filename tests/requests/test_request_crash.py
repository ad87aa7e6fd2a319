"""Process-level crash tests of data-subject requests on SQLite, PostgreSQL and MariaDB.

A real child process (``tests/support/request_worker.py``) erases or rectifies a customer of the demo shop and is
SIGKILLed inside the change's transaction (``before_commit``: nothing may change, nothing be journalled) or
between its commit and the ledger copy (``after_commit``: the change and its journal row are there, the ledger
has nothing yet). The next run on the store must copy the journalled entry into the ledger exactly once, the
ledger must verify, and a retry of the request must answer "completed earlier", not "not found". A queue of
erasures killed after one subject's commit, before its group copy, is recovered the same way.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import request_worker
from support.crash import CONTEXT, Worker
from support.retention import journal_rows
from support.shop import DELETED, Shop, erase, fingerprint_of, full_customer, open_shop, rectify, settings_env

from lethe.cli.main import main
from lethe.ledger.entry import RecordedEntry
from lethe.ledger.journal import journal_ref
from lethe.requests.erasure.queue import erase_queue

STORE = "shop"


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


def run_worker(shop: Shop, tmp_path: Path, **config: Any) -> tuple[int, dict[str, Any] | None]:
    """Run the request in a child process and wait for it: (exit code, negative for a signal; its report)."""
    report = tmp_path / f"report-{uuid.uuid4().hex}.json"
    config = {"db_url": shop.url, "env": settings_env(tmp_path), **config}
    process = CONTEXT.Process(target=request_worker.run, args=(config, str(report)))
    process.start()
    return Worker(process, report).finish()


def changes(entries: list[RecordedEntry], action: str) -> list[RecordedEntry]:
    """Entries of completed changes (the journalled ones) of ``action``."""
    return [e for e in entries if e.entry.action == action and e.entry.outcome == "completed"]


def ledger_verifies(tmp_path: Path) -> bool:
    """``lethe ledger verify`` exits 0."""
    return CliRunner().invoke(main, ["ledger", "verify"], env=settings_env(tmp_path)).exit_code == 0


def test_erasure_killed_before_its_commit_changes_and_journals_nothing(shop: Shop, tmp_path: Path) -> None:
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    before = shop.snapshot()

    code, report = run_worker(shop, tmp_path, action="erase", identifier=email, crash="before_commit")

    assert (code, report) == (-signal.SIGKILL, None)
    assert shop.snapshot() == before
    assert journal_rows(shop.engine) == []
    assert changes(shop.entries(), "erase") == []
    # The next run erases the subject as if nothing had happened.
    receipt = erase(shop, email)
    assert (receipt.outcome, receipt.verified) == ("completed", True)
    (entry,) = changes(shop.entries(), "erase")
    assert entry.entry.fingerprints == (fingerprint_of(shop, cid),)
    assert ledger_verifies(tmp_path)


def test_erasure_killed_after_its_commit_is_recovered_by_the_next_run(shop: Shop, tmp_path: Path) -> None:
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    counts = {t: shop.one(f"SELECT count(*) FROM {t} WHERE customer_id = {cid}") for t in DELETED}

    code, report = run_worker(shop, tmp_path, action="erase", identifier=email, crash="after_commit")

    assert (code, report) == (-signal.SIGKILL, None)
    # The subject is erased, and the journal holds the evidence the ledger has not received yet.
    assert all(shop.one(f"SELECT count(*) FROM {t} WHERE customer_id = {cid}") == 0 for t in DELETED)
    assert shop.one("SELECT email FROM customers WHERE id = :c", c=cid).startswith("~h1:")
    (row,) = journal_rows(shop.engine)
    assert (row.flow, row.action, row.ledger_seq) == ("erasure", "erase", None)
    journalled = json.loads(row.body)["entry"]
    assert journalled["fingerprints"] == [fingerprint_of(shop, cid)]
    assert all(journalled["counts"][f"delete:shop.{t}"] == n for t, n in counts.items())
    assert changes(shop.entries(), "erase") == []
    (crashed,) = shop.register()
    assert (crashed.type, crashed.status) == ("erasure", "open")

    # A retry by the same email: the erasure's entry reaches the ledger first, then the answer is that the
    # request was completed earlier, not that nobody was found.
    retry = erase(shop, email)
    assert retry.outcome == "completed-earlier" and retry.request_id == crashed.id
    assert retry.key_fingerprint == fingerprint_of(shop, cid)
    entries = shop.entries()
    (copied,) = changes(entries, "erase")
    assert copied.entry.details["journal"] == journal_ref(STORE, row)
    assert copied.entry.details["request"] == crashed.id and copied.entry.run_id == "crashing-run"
    assert [e.entry.outcome for e in entries] == ["completed", "completed-earlier"]
    assert entries[-1].entry.details["journal"] == journal_ref(STORE, row)
    (marked,) = journal_rows(shop.engine)
    assert marked.ledger_seq == copied.seq
    # The interrupted run's request is answered; no second request was opened.
    (closed,) = shop.register()
    assert (closed.id, closed.status) == (crashed.id, "completed")

    # Later runs on the store copy nothing twice.
    other = full_customer(shop)
    erase(shop, shop.one("SELECT email FROM customers WHERE id = :c", c=other))
    refs = [e.entry.details["journal"] for e in changes(shop.entries(), "erase")]
    assert len(refs) == len(set(refs)) == 2
    assert ledger_verifies(tmp_path)


def test_rectification_killed_after_its_commit_is_recovered_and_a_retry_is_answered(
    shop: Shop, tmp_path: Path
) -> None:
    old = shop.one("SELECT email FROM customers WHERE id = 9")
    new = "rectified.nine@example.net"

    code, report = run_worker(
        shop, tmp_path, action="rectify", identifier=old, changes={"email": new}, crash="after_commit"
    )

    assert (code, report) == (-signal.SIGKILL, None)
    assert shop.one("SELECT email FROM customers WHERE id = 9") == new
    (row,) = journal_rows(shop.engine)
    assert (row.flow, row.ledger_seq) == ("rectification", None)
    assert shop.entries() == []

    # Retried by the old email, which now finds nobody: recovered and answered, nothing changed again.
    retry = rectify(shop, old, {"email": new})
    assert (retry.outcome, retry.columns, retry.rows) == ("completed-earlier", ("email",), 1)
    assert [(e.entry.action, e.entry.outcome) for e in shop.entries()] == [
        ("rectify", "completed"), ("rectify", "completed-earlier")
    ]  # fmt: skip
    assert shop.entries()[0].entry.details["journal"] == journal_ref(STORE, row)
    assert [(r.type, r.status) for r in shop.register()] == [("rectification", "completed")]
    assert ledger_verifies(tmp_path)


def test_a_queue_killed_after_a_commit_is_recovered_and_nothing_is_recorded_twice(
    shop: Shop, tmp_path: Path
) -> None:
    ids = [int(r[0]) for r in shop.rows("SELECT id FROM customers WHERE NOT legal_hold AND EXISTS (SELECT 1 FROM addresses a WHERE a.customer_id = customers.id) ORDER BY id")[:3]]  # fmt: skip
    emails = [shop.one("SELECT email FROM customers WHERE id = :c", c=c) for c in ids]
    untouched = shop.checksum("customers", f"id = {ids[2]}")

    # Killed after the second subject's commit, before any group copy.
    code, report = run_worker(
        shop, tmp_path, action="erase_queue", identifiers=emails, crash="after_commit", crash_at=2
    )

    assert (code, report) == (-signal.SIGKILL, None)
    assert [shop.one(f"SELECT count(*) FROM addresses WHERE customer_id = {c}") for c in ids[:2]] == [0, 0]
    assert shop.checksum("customers", f"id = {ids[2]}") == untouched
    rows = journal_rows(shop.engine)
    assert [(r.flow, r.ledger_seq) for r in rows] == [("erasure", None), ("erasure", None)]
    assert changes(shop.entries(), "erase") == []
    # The queue's requests were opened ahead, all three, and are still open.
    assert sorted((r.type, r.status) for r in shop.register()) == [("erasure", "open")] * 3

    # The same queue again: the journalled two reach the ledger once and are answered as completed earlier,
    # the third is erased, its open request continued.
    summary = erase_queue(
        shop.policy, shop.stores, shop.settings, "customer", emails, ledger=shop.ledger, run_id=shop.run_id()
    )
    assert [i.outcome for i in summary.items] == ["completed-earlier", "completed-earlier", "completed"]
    entries = shop.entries()
    erased = changes(entries, "erase")
    assert sorted(e.entry.fingerprints[0] for e in erased) == sorted(fingerprint_of(shop, c) for c in ids)
    refs = [e.entry.details["journal"] for e in erased]
    assert len(refs) == len(set(refs)) == 3
    assert sorted(refs[:2]) == sorted(journal_ref(STORE, r) for r in rows)
    assert all(r.ledger_seq is not None for r in journal_rows(shop.engine))
    assert sorted((r.type, r.status) for r in shop.register()) == [("erasure", "completed")] * 3
    # A third run copies nothing again.
    erase_queue(
        shop.policy, shop.stores, shop.settings, "customer", emails, ledger=shop.ledger, run_id=shop.run_id()
    )
    assert len(changes(shop.entries(), "erase")) == 3
    assert ledger_verifies(tmp_path)
