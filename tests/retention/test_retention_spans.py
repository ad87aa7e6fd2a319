"""Batches as spans of the primary key: one statement each, adaptive sizes, leaves of exactly the changed keys.

On SQLite, PostgreSQL and MariaDB (``db_url``), against a real SQLite evidence ledger. A span is counted in
rows of the key index, so rows that are not pending inside it make its batch smaller, never wrong.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.journal import old_journal
from support.retention import (
    MASTER_KEY_HEX,
    NEW,
    OLD,
    NewRun,
    batch_entries,
    delete_rule,
    ids,
    insert,
    journal_rows,
    ledger_entries,
    make_policy,
    make_table,
    summary_entries,
)

from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.leaves import leaves_of, leaves_of_scalars, unpack
from lethe.ledger.verify import verify_ledger
from lethe.retention import enforce
from lethe.retention.enforce import enforce_rule
from lethe.retention.spans import SpanSizer
from lethe.settings import Settings

MASTER = bytes.fromhex(MASTER_KEY_HEX)


def test_an_adaptive_span_aims_at_the_target_time_within_floor_and_ceiling() -> None:
    sizer = SpanSizer(target=0.5, floor=1_000, ceiling=250_000, size=5_000)
    sizer.update(5_000, 0.1)  # 50,000 rows/s: 25,000 rows in 0.5 s, but at most 4x per step
    assert sizer.size == 20_000
    sizer.update(20_000, 0.2)
    assert sizer.size == 50_000  # 100,000 rows/s for 0.5 s
    for _ in range(5):
        sizer.update(sizer.size, 0.01)
    assert sizer.size == 250_000  # the ceiling
    sizer.update(250_000, 250.0)  # a very slow batch: 1,000 rows/s
    assert sizer.size == 1_000  # the floor (500 would be the target)


def test_a_fixed_span_never_adapts() -> None:
    sizer = SpanSizer(fixed=7)
    sizer.update(7, 0.0001)
    sizer.update(7, 100.0)
    assert sizer.size == 7


def test_spans_count_index_rows_so_rows_not_pending_make_batches_smaller(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD if i % 2 else NEW} for i in range(1, 31)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 10"))
    result = enforce_rule(new_run(policy), policy.rule("events"))

    assert (result.applied, result.batches, result.remaining) == (15, 3, 0)
    assert ids(db_engine, "events") == list(range(2, 31, 2))
    batches = batch_entries(ledger_entries(settings), "events")
    assert [e.entry.counts["rows"] for e in batches] == [5, 5, 5]
    # Each batch's leaves are those of the odd ids of its span, and its root is theirs.
    for row, span in zip(
        journal_rows(db_engine), ([1, 3, 5, 7, 9], [11, 13, 15, 17, 19], [21, 23, 25, 27, 29]), strict=True
    ):
        leaves = leaves_of_scalars(MASTER, "db", "events", span)
        assert unpack(bytes(row.leaves)) == leaves and bytes(row.root) == merkle.root(leaves)


def test_a_composite_key_spans_by_row_values_and_its_leaves_are_of_the_key_tuples(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    visits = sa.Table(
        "visits",
        sa.MetaData(),
        sa.Column("shop", sa.String(10), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    visits.create(db_engine)
    rows = [{"shop": s, "n": n, "at": OLD if n < 4 else NEW} for s in ("a", "b") for n in range(6)]
    insert(db_engine, visits, rows)
    policy = make_policy(db_url, delete_rule("visits", "visits", "at", extra="batch_size: 4"))
    result = enforce_rule(new_run(policy), policy.rule("visits"))

    assert (result.applied, result.remaining) == (8, 0)
    with db_engine.connect() as connection:
        left = connection.execute(sa.select(visits.c.shop, visits.c.n).order_by("shop", "n")).all()
    assert [tuple(r) for r in left] == [(s, n) for s in ("a", "b") for n in (4, 5)]
    journal = journal_rows(db_engine)
    kept = [unpack(bytes(row.leaves)) for row in journal]
    # Spans of 4 index rows: a0-a3, a4-b1, b2-b5.
    spans = [[("a", n) for n in range(4)], [("b", 0), ("b", 1)], [("b", 2), ("b", 3)]]
    assert kept == [leaves_of(MASTER, "db", "visits", span) for span in spans]


def test_a_journal_of_version_1_is_upgraded_and_its_rows_and_the_new_ones_reach_the_ledger_and_verify(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    old_journal(db_engine, uid=True)  # the release before v2, with one batch a crash left uncopied
    people = make_table(db_engine, "people", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, people, [{"id": i, "at": OLD} for i in range(1, 6)])
    policy = make_policy(db_url, delete_rule("people", "people", "at"))
    result = enforce_rule(new_run(policy), policy.rule("people"))

    assert (result.recovered, result.applied, result.batches) == (1, 5, 1)
    entries = ledger_entries(settings)
    old, new = batch_entries(entries)
    assert old.entry.details["journal"] == "db:1" and len(old.entry.fingerprints) == 1
    assert new.entry.fingerprints == () and new.entry.details["leaf_count"] == 5
    assert (
        new.entry.details["root"] == merkle.root(leaves_of_scalars(MASTER, "db", "people", range(1, 6))).hex()
    )
    assert [e.entry.counts["applied"] for e in summary_entries(entries)] == [5]
    assert all(row.ledger_seq is not None for row in journal_rows(db_engine))
    ledger = Ledger.from_settings(settings)
    try:
        assert verify_ledger(ledger).ok
    finally:
        ledger._engine.dispose()


def test_batches_reach_the_ledger_in_one_group_copy_when_the_interval_has_not_passed(
    db_url: str,
    db_engine: sa.Engine,
    settings: Settings,
    new_run: NewRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(enforce, "GROUP_COMMIT_SECONDS", 3600.0)
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD} for i in range(1, 13)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 3"))
    result = enforce_rule(new_run(policy), policy.rule("events"))

    assert (result.applied, result.batches) == (12, 4)
    batches = batch_entries(ledger_entries(settings), "events")
    # One ledger transaction wrote all four (one recorded_at), and one UPDATE marked their journal rows.
    assert len(batches) == 4 and len({e.recorded_at for e in batches}) == 1
    assert [row.ledger_seq for row in journal_rows(db_engine)] == [e.seq for e in batches]
