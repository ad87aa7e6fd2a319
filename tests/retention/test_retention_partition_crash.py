"""Partitions in separate processes on SQLite, PostgreSQL and MariaDB: at once, twice, and one killed.

Each worker (``tests/support/retention_worker.py``) enforces one partition handed to it sealed, as a flow's
partition task run gets it (``lethe.retention.partitions.seal``), against a real database and a SQLite
evidence ledger. A partition killed with SIGKILL mid-way leaves the others' work intact; the next partitioned
run completes it, every batch recorded once and the ledger verifying.
"""

from __future__ import annotations

import math
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import retention_worker
from support.crash import CONTEXT, Worker
from support.retention import (
    AS_OF,
    STORE,
    batch_entries,
    close_run,
    count,
    journal_rows,
    ledger_entries,
    make_policy,
    make_settings,
    open_run,
    seed_shop,
    settings_env,
    summary_entries,
)

from lethe.errors import ConcurrentRunError
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import journal_ref
from lethe.ledger.verify import verify_ledger
from lethe.retention.enforce import enforce_partitioned
from lethe.retention.partitions import Partition, seal, split_rule
from lethe.settings import Settings
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import create_store_engine

EXPIRED, RECENT, SIZE, N = 36, 4, 3, 3  # customers 1..36 expired; 3 partitions of about 13 keys; batches of 3
RULE = """
- name: customers
  table: db.customers
  after: 3 years
  since: created_at
  action: delete
"""


def partitions(db_url: str, settings: Settings) -> list[Partition]:
    """The rule's N partitions, as a flow's planning step computes them once."""
    policy = make_policy(db_url, RULE)
    run = open_run(policy, settings, AS_OF)
    try:
        return split_rule(run, policy.rule("customers"), N)
    finally:
        close_run(run)


def worker(db_url: str, tmp_path: Path, settings: Settings, part: Partition, **options: Any) -> Worker:
    """Start a child enforcing one partition (options: crash, ready_file, go_file, pause; see the worker)."""
    config = {
        "db_url": db_url,
        "rules": RULE,
        "rule": "customers",
        "as_of": AS_OF.isoformat(),
        "env": settings_env(tmp_path),
        "batch_size": SIZE,
        "partition": seal(settings.require_master_key(), STORE, "customers", part),
        **options,
    }
    report = tmp_path / f"report-{uuid.uuid4().hex}.json"
    process = CONTEXT.Process(target=retention_worker.run, args=(config, str(report)))
    process.start()
    return Worker(process, report)


def start_together(tmp_path: Path, starts: list[Any]) -> list[Worker]:
    """Start workers that wait for one go file, once each has said it is ready."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(len(starts))]
    workers = [start(ready_file=str(r), go_file=str(go)) for start, r in zip(starts, ready, strict=True)]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    return workers


def wait_until_free(db_url: str, lock: str, timeout: float = 10.0) -> None:
    """A partition's lock dies with its process (the server may need a moment to notice)."""
    engine = create_store_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with exclusive_lock(engine, lock):
                    return
            except ConcurrentRunError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        engine.dispose()


def in_partition(part: Partition, key: int) -> bool:
    """True when an integer key is in the partition's range."""
    low = part.lower[0] if part.lower is not None else None
    high = part.upper[0] if part.upper is not None else None
    return (low is None or key > low) and (high is None or key <= high)


def assert_once_and_verified(engine: sa.Engine, settings: Settings) -> None:
    """Every journal row is in the ledger once, the batches add up to every expired row, the ledger verifies."""
    batches = batch_entries(ledger_entries(settings), "customers")
    refs = [e.entry.details["journal"] for e in batches]
    assert len(refs) == len(set(refs)), "a batch was recorded twice"
    assert sorted(refs) == sorted(journal_ref(STORE, row) for row in journal_rows(engine))
    assert sum(e.entry.counts["rows"] for e in batches) == EXPIRED
    ledger = Ledger.from_settings(settings)
    try:
        report = verify_ledger(ledger)
    finally:
        ledger._engine.dispose()
    assert report.ok, report.problem


def test_partitions_in_two_processes_both_progress_at_once(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)
    parts = partitions(db_url, settings)
    workers = start_together(
        tmp_path,
        [lambda p=p, **kw: worker(db_url, tmp_path, settings, p, pause=0.05, **kw) for p in parts[:2]],
    )
    outcomes = [w.finish() for w in workers]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    expected = [sum(in_partition(p, k) for k in range(1, EXPIRED + 1)) for p in parts[:2]]
    assert [report["applied"] for _, report in outcomes if report] == expected
    assert [report["partition"] for _, report in outcomes if report] == ["p1of3", "p2of3"]
    # Only the third partition's expired customers are left.
    left = [k for k in range(1, EXPIRED + 1) if in_partition(parts[2], k)]
    assert count(db_engine, "customers") == len(left) + RECENT


def test_the_same_partition_twice_at_once_runs_once(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)
    part = partitions(db_url, settings)[1]
    workers = start_together(
        tmp_path, [lambda **kw: worker(db_url, tmp_path, settings, part, pause=0.05, **kw) for _ in range(2)]
    )
    outcomes = [w.finish() for w in workers]
    assert sorted(code for code, _ in outcomes) in ([0, 0], [0, 6]), outcomes
    mine = sum(in_partition(part, k) for k in range(1, EXPIRED + 1))
    applied = sorted(report["applied"] for code, report in outcomes if code == 0 and report)
    # Either one took the partition and the other was refused (exit 6), or they ran one after the other.
    assert applied in ([mine], [0, mine])
    assert count(db_engine, "customers") == EXPIRED + RECENT - mine
    assert len(journal_rows(db_engine)) == math.ceil(mine / SIZE)


@pytest.mark.parametrize(("point", "batch"), [("before_commit", 3), ("after_commit", 2)])
def test_a_killed_partition_leaves_the_others_intact_and_the_next_run_completes_it(
    db_url: str, db_engine: sa.Engine, tmp_path: Path, point: str, batch: int
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    settings = make_settings(tmp_path)
    parts = partitions(db_url, settings)
    crash = {"point": point, "batch": batch}  # either way two batches of partition 2 are committed
    workers = [
        worker(db_url, tmp_path, settings, p, pause=0.02, **({"crash": crash} if p.index == 2 else {}))
        for p in parts
    ]
    outcomes = [w.finish() for w in workers]
    assert outcomes[1] == (-signal.SIGKILL, None)
    assert [code for code, _ in (outcomes[0], outcomes[2])] == [0, 0], outcomes
    sizes = [sum(in_partition(p, k) for k in range(1, EXPIRED + 1)) for p in parts]
    assert [outcomes[0][1]["applied"], outcomes[2][1]["applied"]] == [sizes[0], sizes[2]]  # type: ignore[index]
    # The killed partition kept exactly its committed batches (two), in key order; nothing else is left.
    killed = sorted(k for k in range(1, EXPIRED + 1) if in_partition(parts[1], k))
    with db_engine.connect() as connection:
        still = [r[0] for r in connection.execute(sa.text("SELECT id FROM customers ORDER BY id"))]
    assert still == killed[2 * SIZE :] + list(range(EXPIRED + 1, EXPIRED + RECENT + 1))
    assert summary_entries(ledger_entries(settings)) == []

    wait_until_free(db_url, f"retention:{STORE}:customers:p2of3")
    policy = make_policy(db_url, RULE)
    run = open_run(policy, settings, AS_OF)
    try:
        result = enforce_partitioned(run, policy.rule("customers"), N, batch_size=SIZE)
        again = enforce_partitioned(run, policy.rule("customers"), N, batch_size=SIZE)
    finally:
        close_run(run)
    assert (result.applied, result.remaining) == (len(killed) - 2 * SIZE, 0)
    # A batch committed but not copied to the ledger (after_commit) is copied by whichever run copies the
    # store's journal next: a partition still running then, or this run. Never twice (checked below).
    assert result.recovered in ((0, 1) if point == "after_commit" else (0,))
    assert (again.applied, again.batches, again.remaining) == (0, 0, 0)  # a re-run finds nothing left
    assert count(db_engine, "customers") == RECENT
    assert count(db_engine, "orders") == 2 * RECENT
    assert_once_and_verified(db_engine, settings)
    summaries = summary_entries(ledger_entries(settings), "customers")
    assert [(s.entry.outcome, s.entry.counts["applied"]) for s in summaries] == [
        ("completed", len(killed) - 2 * SIZE),
        ("completed", 0),
    ]
