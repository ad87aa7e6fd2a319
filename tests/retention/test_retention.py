"""The retention engine on SQLite, PostgreSQL and MariaDB: what expires, what is done to it, what is recorded.

Every test builds a small purpose-made table with SQLAlchemy Core in a fresh database (``db_url``), a
policy pointing at it, and enforces through ``lethe.retention.enforce`` exactly as the CLI and the Prefect tasks
do, against a real SQLite evidence ledger. Process-level behaviour (two processes at once, crashes) is in
``test_retention_crash.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.databases import create_scratch_database, drop_scratch_database, engine_name_of
from support.retention import (
    MASTER_KEY_HEX,
    batch_entries,
    close_run,
    count,
    journal_rows,
    ledger_entries,
    make_policy,
    make_settings,
    open_run,
    policy_text,
    seed_shop,
    snapshot,
    summary_entries,
    table_rows,
)

from lethe.crypto import fingerprint
from lethe.errors import ConcurrentRunError, LetheError, SchemaMismatchError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, RecordedEntry
from lethe.ledger.journal import JOURNAL_TABLE, journal_ref
from lethe.ledger.verify import verify_ledger
from lethe.operators import OperatorContext, get_operator
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.retention import enforce as retention
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import Settings
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import Stores, create_store_engine
from lethe.validation.policy import require_valid

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OLD = (AS_OF - timedelta(days=5 * 365)).replace(tzinfo=None)
NEW = (AS_OF - timedelta(days=10)).replace(tzinfo=None)
NewRun = Callable[..., RetentionRun]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fixed keys and a SQLite ledger in the test's folder."""
    return make_settings(tmp_path)


@pytest.fixture
def new_run(settings: Settings) -> Iterator[NewRun]:
    """Open runs (``new_run(policy, as_of=AS_OF)``) whose engines are disposed after the test."""
    opened: list[RetentionRun] = []

    def factory(policy: Policy, as_of: datetime = AS_OF, **kwargs: Any) -> RetentionRun:
        run = open_run(policy, settings, as_of, **kwargs)
        opened.append(run)
        return run

    yield factory
    for run in opened:
        close_run(run)


def make_table(engine: sa.Engine, name: str, *columns: sa.Column[Any]) -> sa.Table:
    """Create a table with an integer primary key ``id`` and the given columns."""
    table = sa.Table(
        name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), *columns
    )
    table.create(engine)
    return table


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in one transaction."""
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)


def ids(engine: sa.Engine, table: str) -> list[Any]:
    """Primary keys of a table's rows, in order."""
    return [row[0] for row in table_rows(engine, table)]


def delete_rule(name: str, table: str, since: str, after: str = "3 years", extra: str = "") -> str:
    """YAML of a delete rule."""
    rule = f"- name: {name}\n  table: db.{table}\n  after: {after}\n  since: {since}\n  action: delete\n"
    return rule + "".join(f"  {line}\n" for line in extra.strip().splitlines())


def keys_of(plan_keys: list[list[Any]]) -> list[Any]:
    """Single-column sample keys as a sorted list."""
    return sorted(k[0] for k in plan_keys)


# ------------------------------------------------------------------------------------------- time and periods


@pytest.mark.parametrize(
    ("as_of", "after", "cutoff", "aware"),
    [
        pytest.param(AS_OF, "30 days", AS_OF - timedelta(days=30), False, id="30-days"),
        pytest.param(AS_OF, "30 days", AS_OF - timedelta(days=30), True, id="30-days-zoned-column"),
        pytest.param(
            datetime(2024, 2, 29, tzinfo=UTC),
            "1 year",
            datetime(2023, 2, 28, tzinfo=UTC),
            False,
            id="leap-day",
        ),
        pytest.param(
            datetime(2026, 3, 31, tzinfo=UTC),
            "1 month",
            datetime(2026, 2, 28, tzinfo=UTC),
            False,
            id="month-end",
        ),
    ],
)
def test_a_row_exactly_at_the_cutoff_is_kept_and_one_second_before_is_expired(
    db_url: str,
    db_engine: sa.Engine,
    new_run: NewRun,
    as_of: datetime,
    after: str,
    cutoff: datetime,
    aware: bool,
) -> None:
    # A zoned column is PostgreSQL timestamptz (compared as an instant); elsewhere it stores UTC wall time.
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(timezone=aware), nullable=True))

    def value(moment: datetime) -> datetime:
        return moment if aware else moment.replace(tzinfo=None)

    insert(
        db_engine,
        events,
        [
            {"id": 1, "at": value(cutoff - timedelta(seconds=1))},
            {"id": 2, "at": value(cutoff)},
            {"id": 3, "at": value(cutoff + timedelta(seconds=1))},
            {"id": 4, "at": value(cutoff - timedelta(days=400))},
            {"id": 5, "at": None},  # unknown age is not old age
        ],
    )
    policy = make_policy(db_url, delete_rule("events", "events", "at", after))
    run = new_run(policy, as_of)

    plan = plan_rule(run, policy.rule("events"))
    assert plan.cutoff == cutoff
    assert (plan.pending, keys_of(plan.sample_keys)) == (2, [1, 4])
    result = enforce_rule(run, policy.rule("events"))
    assert (result.applied, result.remaining) == (2, 0)
    assert ids(db_engine, "events") == [2, 3, 5]


ZONE_CASES = {
    "days": (AS_OF, "30 days"),
    # 23:00 UTC on the 30th is already the 31st at +02:00: calendar arithmetic must not depend on that.
    "month": (datetime(2026, 3, 30, 23, 0, tzinfo=UTC), "1 month"),
    # Across the start of summer time in Berlin: 48 hours are 48 hours, not two wall-clock days.
    "hours": (datetime(2026, 3, 30, 12, 0, tzinfo=UTC), "48 hours"),
}


def test_the_same_instant_in_another_zone_gives_the_same_cutoff(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    for name, (as_of, after) in ZONE_CASES.items():
        events = make_table(db_engine, f"events_{name}", sa.Column("at", sa.DateTime(), nullable=False))
        policy = make_policy(db_url, delete_rule(name, f"events_{name}", "at", after))
        utc_cutoff = plan_rule(new_run(policy, as_of), policy.rule(name)).cutoff
        naive_cutoff = utc_cutoff.astimezone(UTC).replace(tzinfo=None)
        insert(
            db_engine,
            events,
            [{"id": 1, "at": naive_cutoff - timedelta(seconds=1)}, {"id": 2, "at": naive_cutoff}],
        )
        spellings = [
            as_of,
            as_of.astimezone(timezone(timedelta(hours=2))),
            as_of.astimezone(ZoneInfo("Europe/Berlin")),
        ]
        plans = [plan_rule(new_run(policy, moment), policy.rule(name)) for moment in spellings]
        assert [p.cutoff for p in plans] == [utc_cutoff] * 3, name
        assert [(p.pending, p.sample_keys) for p in plans] == [(1, [[1]])] * 3, name
    assert utc_cutoff == datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the last case: exactly 48 hours


def test_a_store_zone_makes_naive_timestamps_berlin_wall_clock(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    # The cut-off 2026-05-16 12:00 UTC is 14:00 summer time in Berlin.
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(
        db_engine,
        events,
        [
            {"id": 1, "at": datetime(2026, 5, 16, 13, 59, 59)},  # Berlin: before 14:00, expired
            {"id": 2, "at": datetime(2026, 5, 16, 14, 0, 0)},  # exactly the cut-off: kept
            {"id": 3, "at": datetime(2026, 5, 16, 11, 59, 59)},  # expired in either reading
        ],
    )
    rule = delete_rule("events", "events", "at", "30 days")
    berlin = make_policy(db_url, rule, timezone="Europe/Berlin")
    utc = make_policy(db_url, rule)

    utc_plan = plan_rule(new_run(utc), utc.rule("events"))
    assert (utc_plan.pending, keys_of(utc_plan.sample_keys)) == (1, [3])
    run = new_run(berlin)
    plan = plan_rule(run, berlin.rule("events"))
    assert plan.cutoff == AS_OF - timedelta(days=30)
    assert (plan.pending, keys_of(plan.sample_keys)) == (2, [1, 3])
    assert enforce_rule(run, berlin.rule("events")).applied == 2
    assert ids(db_engine, "events") == [2]


def test_a_date_on_the_cutoff_day_is_kept(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    closed = make_table(db_engine, "contracts", sa.Column("closed_on", sa.Date(), nullable=False))
    insert(
        db_engine,
        closed,
        [
            {"id": 1, "closed_on": date(2026, 5, 15)},
            {"id": 2, "closed_on": date(2026, 5, 16)},
            {"id": 3, "closed_on": date(2026, 5, 17)},
        ],
    )
    rule = delete_rule("contracts", "contracts", "closed_on", "30 days")
    utc, berlin = make_policy(db_url, rule), make_policy(db_url, rule, timezone="Europe/Berlin")
    # Cut-off 2026-05-16 12:00 UTC: the day of the cut-off is the 16th.
    assert keys_of(plan_rule(new_run(utc), utc.rule("contracts")).sample_keys) == [1]
    # 23:30 UTC is already the next day in Berlin, so there the cut-off day is the 17th.
    late = datetime(2026, 6, 15, 23, 30, tzinfo=UTC)
    assert keys_of(plan_rule(new_run(utc, late), utc.rule("contracts")).sample_keys) == [1]
    run = new_run(berlin, late)
    assert keys_of(plan_rule(run, berlin.rule("contracts")).sample_keys) == [1, 2]
    assert enforce_rule(run, berlin.rule("contracts")).applied == 2
    assert ids(db_engine, "contracts") == [3]


def test_as_of_without_a_time_zone_is_rejected(tmp_path: Path, settings: Settings) -> None:
    policy = make_policy(f"sqlite:///{tmp_path}/never-opened.db", delete_rule("r", "t", "at"))
    with pytest.raises(LetheError, match="timezone-aware"):
        RetentionRun(policy, Stores(policy), settings, datetime(2026, 6, 15, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.rule("r").after.cutoff(datetime(2026, 6, 15, 12, 0))


# ---------------------------------------------------------------------------------- conditions, holds, anchors


CONDITIONS = {
    "shorthand": ("{status: closed}", [1, 2, 5]),
    "equals-and-in": ("{status: {equals: closed}, channel: {in: [email, chat]}}", [1]),
    "in": ("{status: {in: [open, spam]}}", [3, 6]),
    "not-in": ("{status: {not_in: [closed]}}", [3, 4, 6]),  # NULL is not in the list
    "is-null": ("{channel: {is_null: true}}", [4, 5]),
    "not-null-not-equals": ("{channel: {is_null: false}, status: {not_equals: closed}}", [3, 6]),
}


def test_where_conditions_select_exactly_their_rows(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    tickets = make_table(
        db_engine,
        "tickets",
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
    )
    values = [("closed", "email"), ("closed", "phone"), ("open", "email"), (None, None), ("closed", None)]
    rows = [{"id": i, "closed_at": OLD, "status": s, "channel": c} for i, (s, c) in enumerate(values, 1)]
    rows.append({"id": 6, "closed_at": OLD, "status": "spam", "channel": "chat"})
    rows.append({"id": 7, "closed_at": NEW, "status": "closed", "channel": "email"})  # matches, not expired
    insert(db_engine, tickets, rows)
    policy = make_policy(
        db_url,
        "".join(
            delete_rule(name, "tickets", "closed_at", extra=f"where: {where}")
            for name, (where, _) in CONDITIONS.items()
        ),
    )
    run = new_run(policy)

    planned = {name: plan_rule(run, policy.rule(name), sample=10) for name in CONDITIONS}
    assert {name: keys_of(p.sample_keys) for name, p in planned.items()} == {
        name: expected for name, (_, expected) in CONDITIONS.items()
    }
    assert all(p.pending == len(CONDITIONS[name][1]) for name, p in planned.items())
    assert enforce_rule(run, policy.rule("not-in")).applied == 3
    assert ids(db_engine, "tickets") == [1, 2, 5, 7]


def test_rows_under_legal_hold_are_untouched_and_counted_as_held(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    people = make_table(
        db_engine,
        "people",
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("disputed", sa.Integer(), nullable=True),  # a second flag: any non-zero value holds
    )
    flags = {1: (True, None), 2: (False, None), 3: (True, 0), 4: (False, 2), 5: (False, 0), 6: (True, None)}
    insert(
        db_engine,
        people,
        [
            {
                "id": i,
                "email": f"p{i}@example.com",
                "created_at": NEW if i == 6 else OLD,
                "legal_hold": h,
                "disputed": d,
            }
            for i, (h, d) in flags.items()
        ],
    )
    policy = make_policy(
        db_url, delete_rule("people", "people", "created_at", extra="unless: [legal_hold, disputed]")
    )
    run = new_run(policy)
    kept_before = [row for row in table_rows(db_engine, "people") if row[0] in {1, 3, 4, 6}]

    plan = plan_rule(run, policy.rule("people"))
    assert (plan.pending, plan.held, keys_of(plan.sample_keys)) == (2, 3, [2, 5])  # 6 is held but not expired
    result = enforce_rule(run, policy.rule("people"))
    assert (result.applied, result.held, result.remaining) == (2, 3, 0)
    assert table_rows(db_engine, "people") == kept_before
    (summary,) = summary_entries(ledger_entries(settings), "people")
    assert (summary.entry.counts["applied"], summary.entry.counts["held"]) == (2, 3)


def test_latest_of_anchors_a_customer_through_its_orders(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    md = sa.MetaData()
    customers = sa.Table(
        "customers",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
    )
    orders = sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    md.create_all(db_engine)
    insert(
        db_engine,
        customers,
        [
            {"id": 1, "created_at": OLD, "last_login_at": None},  # a recent order: kept
            {"id": 2, "created_at": OLD, "last_login_at": None},  # only old orders: expired
            {"id": 3, "created_at": OLD, "last_login_at": None},  # no orders, old: expired
            {"id": 4, "created_at": NEW, "last_login_at": None},  # old orders, new account: kept
            {"id": 5, "created_at": OLD, "last_login_at": NEW},  # recent login: kept
        ],
    )
    insert(
        db_engine,
        orders,
        [
            {"id": 10, "customer_id": 1, "created_at": OLD},
            {"id": 11, "customer_id": 1, "created_at": NEW},
            {"id": 20, "customer_id": 2, "created_at": OLD},
            {"id": 21, "customer_id": 2, "created_at": OLD},
            {"id": 40, "customer_id": 4, "created_at": OLD},
        ],
    )
    policy = make_policy(
        db_url,
        delete_rule("inactive", "customers", "{latest_of: [created_at, last_login_at, orders.created_at]}")
        + delete_rule("by-orders", "customers", "{latest_of: [orders.created_at]}"),
    )
    run = new_run(policy)

    # Anchored on orders alone, a customer without orders has no anchor, so it never expires.
    assert keys_of(plan_rule(run, policy.rule("by-orders")).sample_keys) == [2, 4]
    plan = plan_rule(run, policy.rule("inactive"))
    assert (plan.pending, keys_of(plan.sample_keys), plan.children) == (2, [2, 3], {"orders (delete)": 2})
    result = enforce_rule(run, policy.rule("inactive"))
    assert (result.applied, result.children) == (2, {"orders (delete)": 2})
    assert ids(db_engine, "customers") == [1, 4, 5]
    assert ids(db_engine, "orders") == [10, 11, 40]


def test_two_foreign_keys_to_the_rules_table_must_be_named_by_the_policy(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    """Orders point at their buyer and at who referred them: the anchor must not guess which is "theirs"."""
    md = sa.MetaData()
    customers = sa.Table(
        "customers", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )  # fmt: skip
    orders = sa.Table(
        "orders", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("referrer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )  # fmt: skip
    md.create_all(db_engine)
    insert(db_engine, customers, [{"id": 1, "created_at": OLD}, {"id": 2, "created_at": OLD}])
    # Customer 1 ordered recently; customer 2 only referred that order, long after its own activity ended.
    insert(db_engine, orders, [{"id": 10, "customer_id": 1, "referrer_id": 2, "created_at": NEW}])
    rule = delete_rule("inactive", "customers", "{latest_of: [created_at, orders.created_at]}")
    before = snapshot(db_engine)

    ambiguous = make_policy(db_url, rule)
    with Stores(ambiguous) as stores, pytest.raises(SchemaMismatchError) as raised:
        require_valid(ambiguous, stores)
    assert "orders has 2 foreign keys to customers (customer_id, referrer_id)" in str(raised.value)
    with pytest.raises(SchemaMismatchError, match="subject_column"):
        enforce_rule(new_run(ambiguous), ambiguous.rule("inactive"))
    assert snapshot(db_engine) == before

    # The data map says an order belongs to its buyer: customer 1 is kept by its order, customer 2 expires.
    named = parse_policy(
        policy_text(rule)
        + "subjects:\n  customer: {store: db, table: customers, key: id}\n"
        + "data_map:\n  db.orders: {subject: customer, subject_column: customer_id}\n",
        environ={"DB_URL": db_url},
    )
    with Stores(named) as stores:
        require_valid(named, stores)
    assert keys_of(plan_rule(new_run(named), named.rule("inactive")).sample_keys) == [2]


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


# ---------------------------------------------------------------------------------------------------- validation


BAD_RULES = {
    "missing-column": (delete_rule("missing-column", "people", "closed_at"), "no column 'closed_at'"),
    "text-anchor": (
        delete_rule("text-anchor", "people", "name"),
        "anchor name is text, not a date or timestamp",
    ),
    "hmac-too-long": (
        "- name: hmac-too-long\n  table: db.people\n  after: 3 years\n  since: created_at\n"
        "  action: anonymise\n  columns:\n    name: {operator: hmac}\n",
        "but the column holds 20",
    ),
    "no-primary-key": (delete_rule("no-primary-key", "log", "at"), "has no primary key"),
}


def test_rules_that_do_not_fit_the_schema_are_rejected_before_any_change(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    people = make_table(
        db_engine,
        "people",
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime()),
    )
    insert(db_engine, people, [{"id": 1, "name": "Ada", "created_at": OLD}])
    log = sa.Table("log", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("at", sa.DateTime()))
    log.create(db_engine)
    insert(db_engine, log, [{"id": 1, "at": OLD}])
    before = snapshot(db_engine)

    good = make_policy(db_url, delete_rule("good", "people", "created_at"))
    with Stores(good) as stores:
        assert require_valid(good, stores) == []
    for name, (rule, message) in BAD_RULES.items():
        policy = make_policy(db_url, rule)
        with Stores(policy) as stores, pytest.raises(SchemaMismatchError) as raised:
            require_valid(policy, stores)
        assert f"retention.{name}" in str(raised.value) and message in str(raised.value)
    # Enforcing without validating first fails as cleanly, before touching the store.
    for name in ("missing-column", "no-primary-key"):
        policy = make_policy(db_url, BAD_RULES[name][0])
        with pytest.raises(SchemaMismatchError):
            enforce_rule(new_run(policy), policy.rule(name))
    assert snapshot(db_engine) == before
    assert not sa.inspect(db_engine).has_table(JOURNAL_TABLE)  # not even Lethe's journal was created


# -------------------------------------------------------------------------------------------- ledger and journal


def test_each_batch_and_each_rule_is_in_the_ledger_with_fingerprints_never_values(
    db_url: str, db_engine: sa.Engine, settings: Settings, tmp_path: Path, new_run: NewRun
) -> None:
    accounts = sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("login", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    accounts.create(db_engine)
    logins = [f"login-qxz7-{i:02d}" for i in range(10)]
    insert(
        db_engine,
        accounts,
        [
            {"login": lg, "email": f"marker-qxz7+{i}@example.com", "closed_at": OLD}
            for i, lg in enumerate(logins)
        ]
        + [{"login": "still-open", "email": "open@example.com", "closed_at": None}],
    )
    policy = make_policy(db_url, delete_rule("accounts", "accounts", "closed_at"))
    run = new_run(policy)
    result = enforce_rule(run, policy.rule("accounts"), batch_size=4)
    assert (result.applied, result.batches) == (10, 3)

    entries = ledger_entries(settings)
    batches, (summary,) = batch_entries(entries, "accounts"), summary_entries(entries, "accounts")
    journal = journal_rows(db_engine)
    assert [e.entry.details["journal"] for e in batches] == [journal_ref("db", row) for row in journal]
    assert [row.ledger_seq for row in journal] == [e.seq for e in batches]
    assert [e.entry.counts["rows"] for e in batches] == [4, 4, 2]
    assert all(e.entry.run_id == run.run_id and e.entry.action == "delete" for e in batches)
    fingerprints = [fp for e in batches for fp in e.entry.fingerprints]
    master = bytes.fromhex(MASTER_KEY_HEX)
    assert fingerprints == [fingerprint(master, "db.accounts", lg) for lg in logins]
    assert all(fp.startswith("fp1:") for fp in fingerprints)
    assert summary.seq > batches[-1].seq
    assert (summary.entry.outcome, summary.entry.action) == ("completed", "retention.delete")
    assert {k: summary.entry.counts[k] for k in ("applied", "batches", "remaining")} == {
        "applied": 10,
        "batches": 3,
        "remaining": 0,
    }
    ledger = Ledger.from_settings(settings)
    try:
        assert verify_ledger(ledger).ok
    finally:
        ledger._engine.dispose()
    # No key and no value reached the ledger (any file of it) or the journal; the marker is not hex, so a
    # MAC or fingerprint cannot contain it by chance.
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.db")]
    assert files and not any(b"qxz7" in p.read_bytes() for p in files)
    assert not any("qxz7" in row.body for row in journal)


def test_batches_of_seven_over_fifty_rows_and_progress(
    db_url: str, db_engine: sa.Engine, settings: Settings, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD if i <= 50 else NEW} for i in range(1, 61)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 7"))
    run = new_run(policy)
    calls: list[tuple[int, int]] = []

    assert (plan_rule(run, policy.rule("events")).batches) == 8
    result = enforce_rule(
        run, policy.rule("events"), progress=lambda done, total: calls.append((done, total))
    )
    assert (result.applied, result.batches) == (50, 8)
    assert calls == [(min(7 * n, 50), 50) for n in range(1, 9)]
    batches = batch_entries(ledger_entries(settings), "events")
    assert [e.entry.counts["rows"] for e in batches] == [7] * 7 + [1]
    assert [e.entry.details["batch"] for e in batches] == list(range(1, 9))
    assert ids(db_engine, "events") == list(range(51, 61))


def test_progress_takes_the_plans_count_instead_of_counting_again(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(db_engine, events, [{"id": i, "at": OLD} for i in range(1, 11)])
    policy = make_policy(db_url, delete_rule("events", "events", "at", extra="batch_size: 4"))
    calls: list[tuple[int, int]] = []
    # A total the table does not have: shown as given, so the rows were not counted a second time.
    enforce_rule(
        new_run(policy), policy.rule("events"), progress=lambda d, t: calls.append((d, t)), expected=40
    )
    assert calls == [(4, 40), (8, 40), (10, 40), (10, 10)]  # fewer than expected: it ends at 100%


# --------------------------------------------------------------------------------------------------- concurrency


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
