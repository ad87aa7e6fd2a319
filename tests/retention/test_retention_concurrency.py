"""Retention runs at once, on SQLite, PostgreSQL and MariaDB: rule locks, and a journal recovered only once.

As in ``test_retention.py``: a purpose-made table in a fresh database per test (``db_url``), enforced
through ``lethe.retention.enforce`` against a real SQLite evidence ledger (fixtures in ``conftest.py``).
Runs in other processes, and crashes, are in ``test_retention_crash.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.databases import create_scratch_database, drop_scratch_database, engine_name_of
from support.retention import (
    AS_OF,
    OLD,
    NewRun,
    batch_entries,
    delete_rule,
    insert,
    journal_rows,
    ledger_entries,
    make_policy,
    make_table,
    seed_shop,
    snapshot,
)

from lethe.errors import ConcurrentRunError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, RecordedEntry
from lethe.ledger.journal import journal_ref
from lethe.retention import enforce as retention
from lethe.retention.enforce import enforce_rule
from lethe.settings import Settings
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import create_store_engine


def test_a_rule_whose_lock_is_held_is_refused_and_changes_nothing(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    seed_shop(db_engine, old=3, recent=1, as_of=AS_OF)
    policy = make_policy(db_url, delete_rule("customers", "customers", "created_at"))
    before = snapshot(db_engine)
    holder, other = create_store_engine(db_url), create_store_engine(db_url)
    try:
        with exclusive_lock(holder, "retention:db:customers"):
            with pytest.raises(ConcurrentRunError), exclusive_lock(other, "retention:db:customers"):
                pass
            with exclusive_lock(other, "retention:db:something-else"):
                pass  # another rule's lock is independent
            with pytest.raises(ConcurrentRunError):
                enforce_rule(new_run(policy), policy.rule("customers"))
            assert snapshot(db_engine) == before
        # Released with the block: the next run takes it.
        with exclusive_lock(other, "retention:db:customers"):
            pass
        assert enforce_rule(new_run(policy), policy.rule("customers")).applied == 3
    finally:
        holder.dispose()
        other.dispose()


def test_a_waiting_lock_is_granted_when_the_holder_lets_go(db_url: str) -> None:
    holder, waiter = create_store_engine(db_url), create_store_engine(db_url)
    taken, letting_go = threading.Event(), threading.Event()

    def hold() -> None:
        with exclusive_lock(holder, "journal"):
            taken.set()
            time.sleep(0.3)
            letting_go.set()  # still inside: the lock is released after this

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(30)
        with pytest.raises(ConcurrentRunError), exclusive_lock(waiter, "journal", wait=0.05):
            pass
        with exclusive_lock(waiter, "journal", wait=30):
            # Granted only once the holder was done (its thread may still be finishing: not asserted).
            assert letting_go.is_set()
    finally:
        thread.join()
        holder.dispose()
        waiter.dispose()


@pytest.fixture
def other_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same server as ``db_url`` (a second file for SQLite)."""
    engine_name = engine_name_of(db_url)
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path}/other.db"
        return
    url = create_scratch_database(engine_name)
    try:
        yield url
    finally:
        drop_scratch_database(url)


def test_the_same_rule_on_another_database_of_the_server_is_not_blocked(
    db_url: str, other_db_url: str
) -> None:
    # MariaDB's GET_LOCK names are server-wide: two tenants' databases must not lock each other out.
    here, there = create_store_engine(db_url), create_store_engine(other_db_url)
    try:
        with exclusive_lock(here, "retention:db:customers"), exclusive_lock(there, "retention:db:customers"):
            pass
    finally:
        here.dispose()
        there.dispose()


class PausingLedger(Ledger):
    """A ledger whose first append signals ``in_append`` and waits (0.75 s at most) for ``resume``."""

    in_append: threading.Event
    resume: threading.Event

    def append(self, entry: LedgerEntry) -> RecordedEntry:
        """Pause once, as a slow ledger or a descheduled process would, then append."""
        if not self.in_append.is_set():
            self.in_append.set()
            self.resume.wait(0.75)  # the other run's copy of the same batch takes well under that
        return super().append(entry)


def test_two_rules_recovering_the_same_journal_at_once_record_it_once(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    other = make_table(db_engine, "other_events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD} for i in range(1, 5)])
    insert(db_engine, other, [{"id": i, "at": OLD} for i in range(1, 5)])
    policy = make_policy(db_url, delete_rule("a", "events", "at") + delete_rule("b", "other_events", "at"))

    class Crash(Exception):
        pass

    def crash(_batch: int) -> None:
        raise Crash

    # Rule a's first batch commits, then its run dies before copying the batch to the ledger.
    monkeypatch.setattr(retention, "_after_batch_commit", crash)
    with pytest.raises(Crash):
        enforce_rule(new_run(policy), policy.rule("a"), batch_size=2)
    monkeypatch.setattr(retention, "_after_batch_commit", None)
    assert [row.ledger_seq for row in journal_rows(db_engine)] == [None]

    # Rule a's next run starts recovering it and stalls in the ledger; meanwhile rule b's run starts.
    slow = PausingLedger.from_settings(settings)
    slow.in_append, slow.resume = threading.Event(), threading.Event()
    run_a = new_run(policy, ledger=slow)
    results: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: results.update(a=enforce_rule(run_a, policy.rule("a"), batch_size=2))
    )
    thread.start()
    assert slow.in_append.wait(30)
    results["b"] = enforce_rule(new_run(policy), policy.rule("b"), batch_size=2)
    slow.resume.set()
    thread.join(30)
    slow._engine.dispose()

    assert (results["a"].applied, results["b"].applied) == (2, 4)
    entries = ledger_entries(settings)
    refs = [e.entry.details["journal"] for e in batch_entries(entries)]
    assert sorted(refs) == sorted(journal_ref("db", row) for row in journal_rows(db_engine))
    assert all(row.ledger_seq is not None for row in journal_rows(db_engine))
    assert sum(e.entry.counts["rows"] for e in batch_entries(entries, "a")) == 4
