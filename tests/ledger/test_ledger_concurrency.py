"""The evidence ledger under concurrent appenders, and on PostgreSQL and MariaDB servers."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from support.databases import scratch_database
from support.ledger import KEY, assert_tampered, make_entry, sql

from lethe.crypto import fingerprint
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_or_raise


def _append_worker(url: str, tag: str, count: int, barrier: Any) -> None:
    """Child process: wait for the other one, then append ``count`` entries one by one."""
    led = Ledger(sa.create_engine(url), KEY)
    barrier.wait(timeout=60)
    for i in range(count):
        led.append(make_entry(i, run_id=f"{tag}-{i}"))


@pytest.mark.slow
def test_concurrent_appends_from_two_processes(url: str) -> None:
    """Two processes appending at once (also racing to create the tables) never fork the chain."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_worker, args=(url, tag, 50, barrier)) for tag in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    led = Ledger(sa.create_engine(url), KEY)
    assert verify_or_raise(led).count == 100
    tags = [r.entry.run_id.split("-")[0] for r in led.entries()]
    assert (tags.count("a"), tags.count("b")) == (50, 50)


# -- PostgreSQL and MariaDB ---------------------------------------------------------------------------

# MariaDB's own default, case-insensitive: the ledger's tables must not take the database's collation (the
# scratch databases' default is binary, which would let a case-insensitive run id filter pass unnoticed).
SERVER_DEFAULT_COLLATION = "utf8mb4_general_ci"


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgresql", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_ledger_on_server(kind: str) -> None:
    """Round trip, concurrent appenders (FOR UPDATE on the head), append_on and one tampering."""
    with scratch_database(kind, mariadb_collation=SERVER_DEFAULT_COLLATION) as url:
        engine = sa.create_engine(url)
        try:
            led = Ledger(engine, KEY)
            led.append(make_entry(1))
            with engine.begin() as conn:
                led.append_on(conn, [make_entry(2)])
            threads = [
                threading.Thread(
                    target=lambda t=t: [led.append(make_entry(3, run_id=f"{t}-{i}")) for i in range(10)]
                )
                for t in ("a", "b")
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            got = list(led.entries())
            assert [r.seq for r in got] == list(range(1, 23))
            assert [r.entry for r in got[:2]] == [make_entry(1), make_entry(2)]
            # ~130 KB of fingerprints: more than a MariaDB TEXT column holds.
            big = make_entry(23, fingerprints=[fingerprint(KEY, "shop.orders", i) for i in range(3500)])
            led.append(big)
            assert [r.entry for r in led.entries(since_seq=22)] == [big]
            assert verify_or_raise(led).count == 23
            assert not list(led.entries(run_id="RUN-1")), "run ids match exactly, not case-insensitively"
            sql(url, "UPDATE lethe_ledger SET outcome = 'failed' WHERE seq = 2")
            assert_tampered(led, 2, "column outcome differs")
        finally:
            engine.dispose()
