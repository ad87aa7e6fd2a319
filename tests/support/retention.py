"""Shared builders of the retention tests: a one-store policy, settings, runs, small purpose-made tables.

Imported by ``tests/retention/test_retention*.py``, ``tests/retention/conftest.py`` and
``support/retention_worker.py`` (the child process of the process-level tests), so all build exactly the same
policy and data. Nothing here is mocked: tables are created with SQLAlchemy Core on the real database of the
``db_url`` fixture.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lethe.ledger.chain import Ledger
from lethe.ledger.entry import RecordedEntry
from lethe.ledger.journal import JOURNAL_TABLE
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.retention.run import RetentionRun
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores

STORE = "db"
MASTER_KEY_HEX = "ab" * 32
LEDGER_KEY_HEX = "cd" * 32

# the moment the engine tests judge at, a row long expired and one not yet (naive UTC, as the columns hold)
AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OLD = (AS_OF - timedelta(days=5 * 365)).replace(tzinfo=None)
NEW = (AS_OF - timedelta(days=10)).replace(tzinfo=None)
NewRun = Callable[..., RetentionRun]


def settings_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a test run: fixed keys and a SQLite ledger file in the test's folder."""
    return {
        "LETHE_MASTER_KEY": MASTER_KEY_HEX,
        "LETHE_LEDGER_KEY": LEDGER_KEY_HEX,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
    }


def make_settings(tmp_path: Path) -> Settings:
    """Settings of a test run (see ``settings_env``)."""
    return load_settings(settings_env(tmp_path))


def policy_text(rules: str, *, timezone: str = "UTC") -> str:
    """A policy with one store ``db`` (URL from ``${DB_URL}``) and the given YAML list of rules."""
    head = textwrap.dedent(
        f"""\
        version: 1
        controller: {{name: Test Ltd}}
        stores:
          {STORE}:
            url: ${{DB_URL}}
            timezone: {timezone}
        retention:
        """
    )
    return head + textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ") + "\n"


def make_policy(db_url: str, rules: str, *, timezone: str = "UTC") -> Policy:
    """Parse ``policy_text`` against the database at ``db_url``."""
    return parse_policy(policy_text(rules, timezone=timezone), environ={"DB_URL": db_url})


def open_run(policy: Policy, settings: Settings, as_of: datetime, **kwargs: Any) -> RetentionRun:
    """A run with its own stores and the settings' ledger; close it with ``close_run``."""
    kwargs.setdefault("ledger", Ledger.from_settings(settings))
    return RetentionRun(policy, Stores(policy), settings, as_of, **kwargs)


def close_run(run: RetentionRun) -> None:
    """Dispose of the run's engines (its stores and its ledger)."""
    run.stores.close()
    if run.ledger is not None:
        run.ledger._engine.dispose()


# ------------------------------------------------------------------------------------------------ tables


def shop_tables(metadata: sa.MetaData | None = None) -> dict[str, sa.Table]:
    """customers <- orders <- order_lines (NOT NULL keys), customers <- tickets (nullable key)."""
    md = metadata or sa.MetaData()
    customers = sa.Table(
        "customers",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("legal_hold", sa.Boolean, nullable=False, default=False),
    )
    orders = sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    order_lines = sa.Table(
        "order_lines",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("product", sa.String(100), nullable=False),
    )
    tickets = sa.Table(
        "tickets",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=True, index=True),
        sa.Column("subject", sa.String(200), nullable=False),
    )
    return {"customers": customers, "orders": orders, "order_lines": order_lines, "tickets": tickets}


def seed_shop(
    engine: sa.Engine, *, old: int, recent: int, as_of: datetime, orders_per_customer: int = 2
) -> dict[str, sa.Table]:
    """Create the shop: customers 1..old are 10 years old, the next ``recent`` ones a day old.

    Every customer has ``orders_per_customer`` orders (as old as the customer), each with two lines; odd
    customers have one ticket. Timestamps are naive UTC.
    """
    tables = shop_tables()
    tables["customers"].metadata.create_all(engine)
    ancient = (as_of - timedelta(days=3650)).replace(tzinfo=None)
    fresh = (as_of - timedelta(days=1)).replace(tzinfo=None)
    customers, orders, lines, tickets = [], [], [], []
    for cid in range(1, old + recent + 1):
        at = ancient if cid <= old else fresh
        customers.append({"id": cid, "email": f"c{cid}@example.com", "created_at": at, "legal_hold": False})
        for k in range(orders_per_customer):
            oid = cid * 10 + k
            orders.append({"id": oid, "customer_id": cid, "created_at": at})
            lines += [{"id": oid * 10 + j, "order_id": oid, "product": f"p{j}"} for j in range(2)]
        if cid % 2:
            tickets.append({"id": cid, "customer_id": cid, "subject": f"question {cid}"})
    with engine.begin() as connection:
        for name, data in (("customers", customers), ("orders", orders), ("order_lines", lines)):
            if data:
                connection.execute(tables[name].insert(), data)
        if tickets:
            connection.execute(tables["tickets"].insert(), tickets)
    return tables


def table_rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    """Every row of a table in primary-key order, as tuples."""
    return snapshot(engine, [name])[name]


def snapshot(engine: sa.Engine, names: Sequence[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the named tables (default: every table but Lethe's journal), in primary-key order.

    Compare two snapshots to prove that nothing changed.
    """
    metadata = sa.MetaData()
    metadata.reflect(engine, only=list(names) if names is not None else lambda n, _m: n != JOURNAL_TABLE)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for name, table in sorted(metadata.tables.items()):
            order = list(table.primary_key.columns) or list(table.columns)
            rows[name] = [tuple(r) for r in connection.execute(sa.select(table).order_by(*order))]
    return rows


def count(engine: sa.Engine, name: str, where: str = "") -> int:
    """``SELECT count(*)`` of a table, optionally filtered by a SQL condition."""
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {name} {where}")).scalar_one())


def journal_rows(engine: sa.Engine) -> list[sa.Row[Any]]:
    """The rows of ``lethe_journal`` in id order (none when the table was never created)."""
    if not sa.inspect(engine).has_table(JOURNAL_TABLE):
        return []
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT * FROM {JOURNAL_TABLE} ORDER BY id")))


def ledger_entries(settings: Settings) -> list[RecordedEntry]:
    """Every entry of the settings' ledger."""
    ledger = Ledger.from_settings(settings)
    try:
        return list(ledger.entries())
    finally:
        ledger._engine.dispose()


def batch_entries(entries: Sequence[RecordedEntry], rule: str | None = None) -> list[RecordedEntry]:
    """The per-batch entries (outcome ``applied``) of a rule, or of every rule."""
    return [e for e in entries if e.entry.outcome == "applied" and (rule is None or e.entry.rule == rule)]


def summary_entries(entries: Sequence[RecordedEntry], rule: str | None = None) -> list[RecordedEntry]:
    """The per-rule summary entries (``completed`` or ``incomplete``)."""
    return [
        e
        for e in entries
        if e.entry.outcome in {"completed", "incomplete"} and (rule is None or e.entry.rule == rule)
    ]


# ------------------------------------------------------------------------------ purpose-made tables and rules


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
