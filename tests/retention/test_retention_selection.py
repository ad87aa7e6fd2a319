"""Which rows a retention rule selects, on SQLite, PostgreSQL and MariaDB: conditions, holds, anchors.

Rules that do not fit the schema (or whose anchor is ambiguous) are refused before any change.

As in ``test_retention.py``: a purpose-made table in a fresh database per test (``db_url``), enforced
through ``lethe.retention.enforce`` against a real SQLite evidence ledger (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from support.retention import (
    NEW,
    OLD,
    NewRun,
    delete_rule,
    ids,
    insert,
    keys_of,
    ledger_entries,
    make_policy,
    make_table,
    policy_text,
    snapshot,
    summary_entries,
    table_rows,
)

from lethe.errors import SchemaMismatchError
from lethe.ledger.journal import JOURNAL_TABLE
from lethe.policy.loading import parse_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.settings import Settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid

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
