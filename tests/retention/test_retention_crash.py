"""Process-level retention tests on SQLite, PostgreSQL and MariaDB: two processes at once, and hard crashes.

Every enforcing run here is a real child process (``tests/support/retention_worker.py``) working on a real database
and a SQLite evidence ledger. Crashes are SIGKILL at three points of a batch's life: inside its transaction
after the rows changed (``before_commit``), after the commit but before the ledger copy (``after_commit``),
and after the ledger copy but before the journal row is marked (``after_ledger_append``); and during a group
copy of every batch at the rule's end, inside the ledger's transaction (``in_ledger_copy``) or after its commit.
The next run, in a fresh process, must finish the work with every batch applied and recorded exactly once.
"""

from __future__ import annotations

import json
import math
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import retention_worker
from support.crash import CONTEXT, Worker
from support.retention import (
    STORE,
    batch_entries,
    count,
    journal_rows,
    ledger_entries,
    make_settings,
    seed_shop,
    settings_env,
    summary_entries,
    table_rows,
)

from lethe.errors import ConcurrentRunError
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import journal_ref
from lethe.ledger.verify import verify_ledger
from lethe.settings import Settings
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import create_store_engine

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
EXPIRED, RECENT, SIZE = 20, 3, 3  # customers 1..20 are expired; batches of 3 (the last one holds 2)
RULE = """
- name: customers
  table: db.customers
  after: 3 years
  since: created_at
  action: delete
"""
LOCK = f"retention:{STORE}:customers"


def worker(db_url: str, tmp_path: Path, **options: Any) -> Worker:
    """Start a child enforcing ``RULE`` (options: crash, ready_file, go_file, pause; see the worker)."""
    config = {
        "db_url": db_url,
        "rules": RULE,
        "rule": "customers",
        "as_of": AS_OF.isoformat(),
        "env": settings_env(tmp_path),
        "batch_size": SIZE,
        **options,
    }
    report = tmp_path / f"report-{uuid.uuid4().hex}.json"
    process = CONTEXT.Process(target=retention_worker.run, args=(config, str(report)))
    process.start()
    return Worker(process, report)


def wait_until_lock_is_free(db_url: str, timeout: float = 10.0) -> None:
    """The rule's lock dies with its process (the server may need a moment to notice the dead session)."""
    engine = create_store_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with exclusive_lock(engine, LOCK):
                    return
            except ConcurrentRunError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        engine.dispose()


def customer_ids(engine: sa.Engine) -> list[int]:
    """Ids of the customers still there."""
    return [row[0] for row in table_rows(engine, "customers")]


def assert_recorded_exactly_once(engine: sa.Engine, settings: Settings) -> None:
    """Every journal row is in the ledger once, marked with its entry's seq, and the ledger verifies."""
    journal = journal_rows(engine)
    batches = batch_entries(ledger_entries(settings))
    seq_of = {e.entry.details["journal"]: e.seq for e in batches}
    refs = [e.entry.details["journal"] for e in batches]
    assert len(refs) == len(set(refs)), "a batch was recorded twice"
    assert sorted(refs) == sorted(journal_ref(STORE, row) for row in journal)
    assert [row.ledger_seq for row in journal] == [seq_of[journal_ref(STORE, row)] for row in journal]
    assert sum(e.entry.counts["rows"] for e in batches) == EXPIRED
    ledger = Ledger.from_settings(settings)
    try:
        report = verify_ledger(ledger)
    finally:
        ledger._engine.dispose()
    assert report.ok, report.problem


@pytest.mark.parametrize(
    ("point", "batch", "committed", "copied"),
    [
        pytest.param("before_commit", 3, 2, 2, id="inside-batch-3"),
        pytest.param("after_commit", 2, 2, 1, id="after-commit-of-batch-2"),
        pytest.param("after_ledger_append", 2, 2, 2, id="after-ledger-copy-of-batch-2"),
    ],
)
def test_a_run_killed_mid_way_leaves_whole_batches_and_the_next_run_finishes(
    db_url: str, db_engine: sa.Engine, tmp_path: Path, point: str, batch: int, committed: int, copied: int
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)

    code, report = worker(db_url, tmp_path, crash={"point": point, "batch": batch}).finish()
    assert (code, report) == (-signal.SIGKILL, None)
    # Whole batches only, in key order: exactly the committed ones are applied, children with them.
    gone = committed * SIZE
    assert customer_ids(db_engine) == list(range(gone + 1, EXPIRED + RECENT + 1))
    assert count(db_engine, "orders") == 2 * (EXPIRED + RECENT - gone)
    assert count(db_engine, "order_lines") == 4 * (EXPIRED + RECENT - gone)
    assert count(db_engine, "tickets", "WHERE customer_id IS NULL") == len(range(1, gone + 1, 2))
    journal = journal_rows(db_engine)
    assert [json.loads(row.body)["counts"]["rows"] for row in journal] == [SIZE] * committed
    marked = committed if point == "before_commit" else committed - 1
    assert [row.ledger_seq is not None for row in journal] == [True] * marked + [False] * (committed - marked)
    entries = ledger_entries(settings)
    assert (len(batch_entries(entries)), summary_entries(entries)) == (copied, [])

    wait_until_lock_is_free(db_url)
    code, result = worker(db_url, tmp_path).finish()
    assert code == 0 and result is not None, result
    left = EXPIRED - gone
    assert (result["applied"], result["batches"], result["remaining"]) == (left, math.ceil(left / SIZE), 0)
    # Only a batch committed but never copied is "recovered"; one already in the ledger is recognised.
    assert result["recovered"] == (1 if point == "after_commit" else 0)
    assert customer_ids(db_engine) == list(range(EXPIRED + 1, EXPIRED + RECENT + 1))
    assert count(db_engine, "order_lines") == 4 * RECENT
    assert len(journal_rows(db_engine)) == committed + math.ceil(left / SIZE)
    assert_recorded_exactly_once(db_engine, settings)
    (summary,) = summary_entries(ledger_entries(settings))
    assert (summary.entry.outcome, summary.entry.counts["applied"]) == ("completed", left)


def test_two_processes_enforcing_one_rule_at_once_never_apply_a_batch_twice(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)
    go, ready = tmp_path / "go", [tmp_path / "ready-1", tmp_path / "ready-2"]
    workers = [worker(db_url, tmp_path, ready_file=str(r), go_file=str(go), pause=0.05) for r in ready]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outcomes = [w.finish() for w in workers]

    assert sorted(code for code, _ in outcomes) in ([0, 0], [0, 6]), outcomes
    applied = sorted(report["applied"] for code, report in outcomes if code == 0 and report)
    # Either one run did everything and the other was refused, or they ran one after the other.
    assert applied in ([EXPIRED], [0, EXPIRED])
    assert customer_ids(db_engine) == list(range(EXPIRED + 1, EXPIRED + RECENT + 1))
    assert len(journal_rows(db_engine)) == math.ceil(EXPIRED / SIZE)
    assert_recorded_exactly_once(db_engine, settings)


@pytest.mark.parametrize("point", ["in_ledger_copy", "after_ledger_append"])
def test_a_run_killed_during_a_group_copy_leaves_each_batch_in_the_ledger_once_after_the_next_run(
    db_url: str, db_engine: sa.Engine, tmp_path: Path, point: str
) -> None:
    """Every batch is committed, then copied in one group at the rule's end; the kill hits that copy."""
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)
    batches = math.ceil(EXPIRED / SIZE)

    crash = {"point": point, "batch": 3}
    code, report = worker(db_url, tmp_path, crash=crash, group_seconds=3600).finish()
    assert (code, report) == (-signal.SIGKILL, None)
    assert customer_ids(db_engine) == list(range(EXPIRED + 1, EXPIRED + RECENT + 1))
    journal = journal_rows(db_engine)
    assert len(journal) == batches and all(row.ledger_seq is None for row in journal)
    # Inside the ledger's transaction: nothing of the group is there. After its commit: all of it.
    in_ledger = 0 if point == "in_ledger_copy" else batches
    entries = ledger_entries(settings)
    assert (len(batch_entries(entries)), summary_entries(entries)) == (in_ledger, [])

    wait_until_lock_is_free(db_url)
    code, result = worker(db_url, tmp_path).finish()
    assert code == 0 and result is not None, result
    assert (result["applied"], result["batches"], result["remaining"]) == (0, 0, 0)
    assert result["recovered"] == batches - in_ledger
    assert len(journal_rows(db_engine)) == batches
    assert_recorded_exactly_once(db_engine, settings)
