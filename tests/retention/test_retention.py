"""The retention engine on SQLite, PostgreSQL and MariaDB: what is done to expired rows; how that is checked.

Deletes take their children along (or detach them), anonymisation rewrites values the same on every engine,
a second run changes nothing, and a run whose result does not hold fails verification.

Every test builds a small purpose-made table with SQLAlchemy Core in a fresh database (``db_url``), a
policy pointing at it, and enforces through ``lethe.retention.enforce`` exactly as the CLI and the Prefect
tasks do, against a real SQLite evidence ledger (the ``settings`` and ``new_run`` fixtures of this folder's
``conftest.py``). The other concerns have their own files:
``test_retention_cutoffs.py`` (what expires when), ``test_retention_selection.py`` (which rows a rule selects,
and rules refused before any change), ``test_retention_batches.py`` (batches, progress and their evidence),
``test_retention_concurrency.py`` (locks and runs at once); process-level behaviour (two processes at once,
crashes) is in ``test_retention_crash.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.retention import (
    AS_OF,
    MASTER_KEY_HEX,
    NEW,
    OLD,
    NewRun,
    batch_entries,
    count,
    delete_rule,
    ids,
    insert,
    keys_of,
    ledger_entries,
    make_policy,
    make_table,
    seed_shop,
    snapshot,
    summary_entries,
    table_rows,
)

from lethe.errors import VerificationError
from lethe.operators import OperatorContext, get_operator
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import Settings

# --------------------------------------------------------------------------------------- deletes and children


def test_a_delete_removes_not_null_children_first_and_detaches_nullable_ones(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    seed_shop(db_engine, old=4, recent=2, as_of=AS_OF)
    policy = make_policy(db_url, delete_rule("customers", "customers", "created_at"))
    run = new_run(policy)
    store = run.stores.engine("db")
    # The constraints are real, also on SQLite (the store engine turns PRAGMA foreign_keys on).
    with pytest.raises(IntegrityError), store.begin() as connection:
        connection.execute(sa.text("DELETE FROM customers WHERE id = 1"))

    plan = plan_rule(run, policy.rule("customers"), batch_size=3)
    expected = {"orders (delete)": 8, "order_lines (delete)": 16, "tickets (detach)": 2}
    assert (plan.pending, plan.children, plan.batches) == (4, expected, 2)
    result = enforce_rule(run, policy.rule("customers"), batch_size=3)
    assert (result.applied, result.children, result.batches) == (4, expected, 2)

    assert ids(db_engine, "customers") == [5, 6]
    assert sorted({row[1] for row in table_rows(db_engine, "orders")}) == [5, 6]
    assert count(db_engine, "order_lines") == 8
    assert [(row[0], row[1]) for row in table_rows(db_engine, "tickets")] == [(1, None), (3, None), (5, 5)]
    batches = batch_entries(ledger_entries(settings), "customers")
    for label, n in expected.items():
        assert sum(e.entry.counts[label] for e in batches) == n


def test_a_second_enforce_changes_nothing(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    seed_shop(db_engine, old=5, recent=3, as_of=AS_OF)
    policy = make_policy(db_url, delete_rule("customers", "customers", "created_at"))
    first = enforce_rule(new_run(policy), policy.rule("customers"))
    assert (first.applied, first.remaining) == (5, 0)
    after_first = snapshot(db_engine)

    run = new_run(policy)
    plan = plan_rule(run, policy.rule("customers"))
    assert (plan.pending, plan.batches, plan.children) == (0, 0, dict.fromkeys(first.children, 0))
    second = enforce_rule(run, policy.rule("customers"))
    assert (second.applied, second.batches, second.remaining) == (0, 0, 0)
    assert snapshot(db_engine) == after_first


# ------------------------------------------------------------------------------------------------ verification


def test_a_row_that_becomes_expired_behind_the_run_fails_verification(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD} for i in range(10, 30)])
    policy = make_policy(db_url, delete_rule("events", "events", "at"))

    def late_writer(done: int, _total: int) -> None:
        # A backdated row with a key the run has already passed, committed by another connection.
        if done == 5:
            insert(db_engine, events, [{"id": 1, "at": OLD}])

    with pytest.raises(VerificationError, match="1 row"):
        enforce_rule(new_run(policy), policy.rule("events"), batch_size=5, progress=late_writer)
    assert ids(db_engine, "events") == [1]
    (summary,) = summary_entries(ledger_entries(settings), "events")
    assert summary.entry.outcome == "incomplete"
    assert (summary.entry.counts["applied"], summary.entry.counts["remaining"]) == (20, 1)
    # The next run picks it up and verifies.
    assert enforce_rule(new_run(policy), policy.rule("events")).applied == 1
    assert ids(db_engine, "events") == []


# --------------------------------------------------------------------------------------------------- anonymise


ANONYMISE = """
- name: people
  table: db.people
  after: 3 years
  since: created_at
  unless: [legal_hold]
  action: anonymise
  columns:
    email: {operator: hmac}
    full_name: {operator: redact, value: anonymised}
    phone: {operator: "null"}
    birth_date: {operator: generalise, to: year}
    postcode: {operator: generalise, keep: 2}
"""


PEOPLE = [
    (
        "marker-7f3a@example.com",
        "Ada Lovelace",
        "+44 20 7946 0000",
        date(1985, 7, 14),
        "D02 X285",
        OLD,
        False,
    ),
    ("bob@example.com", "Bob", None, None, "10115", OLD, False),
    ("held@example.com", "Held Person", "+49 30 123", date(1970, 1, 2), "80331", OLD, True),
    ("recent@example.com", "Recent Person", "+33 1 23", date(1999, 12, 31), "75001", NEW, False),
    ("zoë.ünal@example.com", "Zoë Ünal", "+90 212", date(2000, 2, 29), "34000", OLD, False),
]


def seed_people(engine: sa.Engine) -> None:
    """Create ``people`` with the columns ``ANONYMISE`` rewrites and fill it with ``PEOPLE``."""
    people = make_table(
        engine,
        "people",
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("postcode", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
    )
    names = [c.name for c in people.columns][1:]
    insert(engine, people, [{"id": i, **dict(zip(names, p, strict=True))} for i, p in enumerate(PEOPLE, 1)])


def reference(run: RetentionRun, column: str, value: Any, key: tuple[Any, ...]) -> Any:
    """The operator's Python reference value of ``column``: the same on every engine."""
    action = run.policy.rule("people").columns[column]
    shape = run.stores.table(run.policy.rule("people").table).column(column).shape
    ctx = OperatorContext(
        dialect="sqlite", scope=f"db.people.{column}", column=shape, master_key=bytes.fromhex(MASTER_KEY_HEX)
    )
    return None if value is None else get_operator(action.operator).python(action.options, value, key, ctx)


def test_anonymise_rewrites_expired_rows_with_engine_independent_values(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    seed_people(db_engine)
    before = table_rows(db_engine, "people")
    policy = make_policy(db_url, ANONYMISE)
    run = new_run(policy)

    plan = plan_rule(run, policy.rule("people"))
    assert (plan.pending, plan.held, keys_of(plan.sample_keys)) == (3, 1, [1, 2, 5])
    result = enforce_rule(run, policy.rule("people"), batch_size=2)
    assert (result.applied, result.held, result.batches, result.remaining) == (3, 1, 2, 0)

    after = {row[0]: row for row in table_rows(db_engine, "people")}
    for row in before:
        pid, new = row[0], after[row[0]]
        if pid in {3, 4}:  # held, and not yet expired
            assert new == row
            continue
        email, full_name, phone, birth_date, postcode = new[1:6]
        assert email.startswith("~h1:") and len(email) == 4 + 64
        assert email == reference(run, "email", row[1], (pid,))
        assert full_name == "anonymised"
        assert phone is None
        assert birth_date == reference(run, "birth_date", row[4], (pid,))
        assert birth_date is None or (birth_date.month, birth_date.day) == (1, 1)
        assert postcode == reference(run, "postcode", row[5], (pid,))
        assert postcode != row[5] and postcode.startswith(row[5][:2])
        assert new[6:] == row[6:]  # anchor and flag untouched
    assert len({after[1][1], after[2][1], after[5][1]}) == 3

    # Idempotent: the rewritten values are recognised as done.
    done = snapshot(db_engine)
    again = new_run(policy)
    assert plan_rule(again, policy.rule("people")).pending == 0
    assert enforce_rule(again, policy.rule("people")).applied == 0
    assert snapshot(db_engine) == done


# Triggers that undo every change of people.full_name, as a misbehaving audit trigger might.
REVERT_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER keep_name AFTER UPDATE OF full_name ON people "
        "BEGIN UPDATE people SET full_name = OLD.full_name WHERE id = OLD.id; END"
    ],
    "postgresql": [
        "CREATE FUNCTION keep_name() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.full_name := OLD.full_name; RETURN NEW; END $$",
        "CREATE TRIGGER keep_name BEFORE UPDATE ON people FOR EACH ROW EXECUTE FUNCTION keep_name()",
    ],
    "mysql": [
        "CREATE TRIGGER keep_name BEFORE UPDATE ON people FOR EACH ROW SET NEW.full_name = OLD.full_name"
    ],
}


def test_a_database_that_silently_keeps_the_old_value_fails_verification(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    seed_people(db_engine)
    with db_engine.begin() as connection:
        for statement in REVERT_TRIGGER[db_engine.dialect.name]:
            connection.exec_driver_sql(statement)
    before = snapshot(db_engine)
    policy = make_policy(
        db_url,
        """
        - name: names
          table: db.people
          after: 3 years
          since: created_at
          action: anonymise
          columns:
            full_name: {operator: redact}
        """,
    )
    with pytest.raises(VerificationError, match="4 row"):
        enforce_rule(new_run(policy), policy.rule("names"))
    assert snapshot(db_engine) == before
    (summary,) = summary_entries(ledger_entries(settings), "names")
    assert (summary.entry.outcome, summary.entry.counts["remaining"]) == ("incomplete", 4)
