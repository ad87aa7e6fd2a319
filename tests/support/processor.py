"""Shared builders of the processor tests: a multi-tenant store and a processor-mode policy.

``accounts`` (tenant, email, created_at) <- ``events`` (account_id, tenant, at), and a ``contracts`` table
(tenant, period text, ends). Tenants ``acme`` and ``globex`` are declared controllers, ``umbrella`` is not.
Created with SQLAlchemy Core on the real database of the ``db_url`` fixture; timestamps are naive UTC.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy

AGES = {"acme": [60, 2000], "globex": [60, 2000], "umbrella": [60, 2000]}  # days before as_of, per account


def processor_tables(metadata: sa.MetaData | None = None) -> dict[str, sa.Table]:
    """accounts <- events, and contracts."""
    md = metadata or sa.MetaData()
    accounts = sa.Table(
        "accounts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant", sa.String(32), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    events = sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
        sa.Column("tenant", sa.String(32), nullable=False, index=True),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    contracts = sa.Table(
        "contracts",
        md,
        sa.Column("tenant", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(32), nullable=True),
        sa.Column("ends", sa.DateTime(), nullable=True),
    )
    return {"accounts": accounts, "events": events, "contracts": contracts}


def seed_tenants(
    engine: sa.Engine, as_of: datetime, contracts: list[dict[str, Any]] | None = None
) -> dict[str, sa.Table]:
    """Per tenant of ``AGES``: one account per age, each with two events of the same age."""
    tables = processor_tables()
    tables["accounts"].metadata.create_all(engine)
    accounts, events = [], []
    aid = 0
    for tenant, ages in AGES.items():
        for days in ages:
            aid += 1
            at = (as_of - timedelta(days=days)).replace(tzinfo=None)
            accounts.append({"id": aid, "tenant": tenant, "email": f"a{aid}@example.com", "created_at": at})
            events += [{"id": aid * 10 + k, "account_id": aid, "tenant": tenant, "at": at} for k in range(2)]
    with engine.begin() as connection:
        connection.execute(tables["accounts"].insert(), accounts)
        connection.execute(tables["events"].insert(), events)
        if contracts:
            connection.execute(tables["contracts"].insert(), contracts)
    return tables


def processor_policy_text(rules: str = "", *, extra: str = "", table_column: bool = False) -> str:
    """A processor-mode policy over the tenant store ``db`` (URL from ``${DB_URL}``) with the given rules."""
    accounts_column = "    controller_column: tenant\n" if table_column else ""
    store_column = "" if table_column else "    controller_column: tenant\n"
    head = (
        textwrap.dedent(
            """\
            version: 1
            controller: {name: Hosting Ltd, dpo: {name: DPO, email: dpo@hosting.example}}
            role: processor
            processor:
              security_measures: [encryption at rest, tenant isolation]
              controllers:
                acme:
                  name: Acme Ltd
                  email: privacy@acme.example
                  activities: [hosting]
                  transfers: [{country: US, recipient: support desk, safeguard: SCC}]
                globex: {name: Globex plc, key: globex, activities: [hosting]}
              contracts: {table: db.contracts, controller: tenant, period: period, ends: ends}
            stores:
              db:
                url: ${DB_URL}
            """
        )
        + store_column
        + textwrap.dedent(
            """\
            subjects:
              user: {store: db, table: accounts, key: id, lookup: [email]}
            data_map:
              db.accounts:
                subject: user
            """
        )
        + accounts_column
        + textwrap.dedent(
            """\
                columns:
                  email: {category: user.contact.email}
              db.events:
                subject: user
                controller_column: tenant
            activities:
              - name: hosting
                purpose: host the controllers' shops
                lawful_basis: contract
                subjects: [user]
                categories: [user.contact.email]
                security_measures: [backups]
            """
        )
    )
    body = "retention:\n" + textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ") + "\n" if rules else ""
    return head + body + extra


def processor_policy(db_url: str, rules: str = "", **kwargs: Any) -> Policy:
    """Parse ``processor_policy_text`` against the database at ``db_url``."""
    return parse_policy(processor_policy_text(rules, **kwargs), environ={"DB_URL": db_url})


def tenants_left(engine: sa.Engine, table: str = "accounts") -> dict[str, int]:
    """Rows per tenant in ``table``."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT tenant, count(*) FROM {table} GROUP BY tenant"))
        return {str(t): int(n) for t, n in rows}
