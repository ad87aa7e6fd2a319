"""B2: delete the expired 40% of ``sessions``, whose rows each have three ``session_events`` children.

``session_events.session_id`` is a NOT NULL foreign key (indexed), so the children must go first.

Lethe: a ``delete`` rule enforced by ``lethe.retention.enforce.enforce_rule`` (adaptive key spans, the
default: per span the children deleted by one statement selecting their parents through the span and the
pending predicate, then ``DELETE ... RETURNING`` of the parents, leaves and root in the journal row, commit;
ledger entries copied in groups). Baseline, on a fresh copy of the same data: the two statements a person
would write, in one transaction: the children of the expired sessions, then the expired sessions. Each
engine gets its idiomatic form: ``IN (SELECT ...)`` on SQLite and PostgreSQL (a semi-join there), a
multi-table ``DELETE ... JOIN`` on MariaDB (whose single-table ``DELETE ... IN (SELECT ...)`` cannot use a
semi-join before 11.1).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import digest, expired_count, run_lethe
from benchmarks.harness import LETHE, Benchmark, Method, Run, Work
from benchmarks.report import Target
from benchmarks.tables import CHILDREN, CUTOFF, SESSIONS, SESSIONS_RULE
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


def methods(run: Run) -> list[Method]:
    """Lethe, then the hand-written DELETE."""
    expected = expired_count(run.size)
    return [(LETHE, lethe_work(run.workdir, expected)), (BASELINE, _baseline(expected))]


def tables_digest(url: str, _output: object = None) -> dict[str, tuple[int, str]]:
    """The final data of a copy: both tables."""
    return digest(url, SESSIONS.metadata.sorted_tables)


BENCH = Benchmark(
    id="B2",
    summary="delete the expired 40% of a table with a child table: Lethe vs one hand DELETE",
    data=SESSIONS,
    methods=methods,
    targets=TARGETS,
    size=1_000_000,
    quick=10_000,
    check=tables_digest,
    default=True,
)
