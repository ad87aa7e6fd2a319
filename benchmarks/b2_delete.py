"""B2: delete the expired 40% of ``sessions``, whose rows each have three ``session_events`` children.

``session_events.session_id`` is a NOT NULL foreign key (indexed), so the children must go first.

Lethe: a ``delete`` rule enforced by ``lethe.retention.enforce.enforce_rule`` (5,000 parents per batch, the default:
lock the keys, delete their children, delete them, journal row, commit, ledger entry). Baseline, on a fresh
copy of the same data: the two statements a person would write, in one transaction: the children of the
expired sessions, then the expired sessions. Each engine gets its idiomatic form: ``IN (SELECT ...)`` on
SQLite and PostgreSQL (a semi-join there), a multi-table ``DELETE ... JOIN`` on MariaDB (whose single-table
``DELETE ... IN (SELECT ...)`` cannot use a semi-join before 11.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import digest, expired_count, run_lethe
from benchmarks.harness import LETHE, Result, Target, Work, pair_results, run_rounds
from benchmarks.seeding import EngineName, dataset
from benchmarks.tables import CHILDREN, CUTOFF, SESSIONS_RULE, seed_sessions, sessions_metadata
from lethe.stores.engines import create_store_engine

BASELINE = "hand DELETE"
TARGETS = {("B2", BASELINE): Target("<= 1.30", at_most=1.3)}


def hand_delete(url: str) -> int:
    """The hand-written statements in one transaction; return the sessions deleted."""
    engine = create_store_engine(url)
    cutoff = sa.bindparam("cutoff", CUTOFF, type_=sa.DateTime)
    if engine.dialect.name in ("mysql", "mariadb"):
        children = "DELETE e FROM session_events e JOIN sessions s ON s.id = e.session_id WHERE s.started_at < :cutoff"
    else:
        children = "DELETE FROM session_events WHERE session_id IN (SELECT id FROM sessions WHERE started_at < :cutoff)"
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(children).bindparams(cutoff))
            parents = sa.text("DELETE FROM sessions WHERE started_at < :cutoff").bindparams(cutoff)
            return int(connection.execute(parents).rowcount)
    finally:
        engine.dispose()


def lethe_work(workdir: Path, expected: int, batch_size: int | None = None) -> Work:
    """Lethe's measurement: enforce the rule and insist it deleted exactly the expired sessions and events."""

    def work(url: str) -> None:
        result = run_lethe(SESSIONS_RULE, url, workdir, batch_size=batch_size)
        children = sum(result.children.values())
        if result.applied != expected or children != expected * CHILDREN or result.remaining:
            raise AssertionError(f"lethe deleted {result.applied} sessions and {children} events")

    return work


def _baseline(expected: int) -> Work:
    def work(url: str) -> None:
        deleted = hand_delete(url)
        if deleted != expected:
            raise AssertionError(f"the hand-written DELETE removed {deleted} sessions, expected {expected}")

    return work


def methods(workdir: Path, rows: int) -> list[tuple[str, Work]]:
    """Lethe, then the hand-written DELETE."""
    expected = expired_count(rows)
    return [(LETHE, lethe_work(workdir, expected)), (BASELINE, _baseline(expected))]


def tables_digest(url: str) -> dict[str, tuple[int, str]]:
    """The final data of a copy: both tables."""
    engine = create_store_engine(url)
    try:
        md = sessions_metadata()
        return digest(engine, [md.tables["sessions"], md.tables["session_events"]])
    finally:
        engine.dispose()


def run(engine: EngineName, rows: int, pairs: int, workdir: Path, *, log: Any = None) -> list[Result]:
    """B2 on one engine: seed once, then ``pairs`` rounds of Lethe and the hand-written DELETE."""
    with dataset(engine, sessions_metadata(), seed_sessions, rows, workdir / f"b2-{engine}") as data:
        if log is not None:
            log(f"B2 {engine}: seeded {rows:,} rows in {data.seed_seconds:.1f} s")
        times = run_rounds(data, methods(data.workdir, rows), pairs, check=tables_digest, log=log)
    return pair_results("B2", engine, rows, times)
