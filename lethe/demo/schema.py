"""Table definitions of the demo "shop" database, portable to SQLite, PostgreSQL 15 and MariaDB 10.11.

Every table has an integer primary key ``id`` that the generator assigns explicitly (1..N), so rows are
identical on every engine. Foreign keys are real constraints without ``ON DELETE`` actions: erasing a
customer means deleting (or detaching) the children first, as in most real shops. Columns that point to a
parent are indexed because PostgreSQL does not index foreign keys by itself and per-subject lookups and
deletes would scan whole tables otherwise.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
)

# Deterministic constraint names: the same DDL (and the same error messages) on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _ts(name: str, *, nullable: bool = False) -> Column[object]:
    """A UTC timestamp column (second precision; MariaDB stores it as a naive DATETIME in UTC)."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("phone", String(40), nullable=True),
    Column("birth_date", Date, nullable=True),
    Column("postcode", String(16), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    Column("iban", String(34), nullable=True),
    _ts("created_at"),
    _ts("last_login_at", nullable=True),
    Column("status", String(16), nullable=False),  # 'active' | 'closed'
    _ts("deleted_at", nullable=True),  # soft deletion of some closed accounts
    Column("legal_hold", Boolean, nullable=False, default=False, server_default=false()),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # 'billing' | 'shipping'
    Column("street", String(200), nullable=False),
    Column("postcode", String(16), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    _ts("created_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    _ts("created_at"),
    Column("status", String(16), nullable=False),  # 'paid' | 'shipped' | 'cancelled' | 'refunded'
    Column("total", Numeric(10, 2), nullable=False),
    Column("shipping_address_id", Integer, ForeignKey("addresses.id"), nullable=True, index=True),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("sku", String(32), nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(10, 2), nullable=False),
)

support_tickets = Table(
    "support_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    _ts("opened_at"),
    _ts("closed_at", nullable=True),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),  # free text; sometimes repeats the customer's email or phone
    Column("status", String(16), nullable=False),  # 'open' | 'pending' | 'closed'
)

marketing_consents = Table(
    "marketing_consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),  # 'newsletter' | 'profiling'
    _ts("granted_at"),
    _ts("withdrawn_at", nullable=True),
    Column("source", String(32), nullable=False),  # 'signup_form' | 'checkout' | 'preference_centre'
    Column("evidence", String(128), nullable=False),  # form version + synthetic request id, not personal
    # The privacy notice shown when consent was given (NULL: consents recorded before versions were kept).
    Column("notice_version", String(16), nullable=True),
)

newsletter_sends = Table(
    "newsletter_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("campaign", String(64), nullable=False),
    _ts("sent_at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=True, index=True),  # NULL: anonymous
    _ts("started_at"),
    Column("ip_address", String(45), nullable=False),  # IPv4 or IPv6 text
    Column("user_agent", String(200), nullable=False),
)

# Dependency order, parents first: insert in this order, delete in the reverse.
TABLES: tuple[str, ...] = (
    "customers",
    "addresses",
    "orders",
    "order_lines",
    "support_tickets",
    "marketing_consents",
    "newsletter_sends",
    "web_sessions",
)
