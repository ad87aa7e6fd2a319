"""The demo shop's schema (``lethe.demo.schema``: 8 tables) as benchmark data, filled two ways.

* :data:`DEMO_SHOP` (B3, B7): ``lethe.demo.seed``, the demo's own generator: varied, realistic customers
  (about 25 rows each), the data ``make demo`` works on. Rows pass through Python: ~1 minute per 100k
  customers.
* :data:`SQL_SHOP` (B4): the same tables filled in SQL, uniform and fast (about 16 rows per customer): 2
  addresses, 2 orders (shipped to the second address) of 2 lines each, one consent, 2 newsletter sends and
  4 web sessions each, a support ticket for every other customer, and one customer in 100 on legal hold.

Kept apart from ``tables`` so that B6's child process does not import the generator (Faker).
"""

from __future__ import annotations

import sqlalchemy as sa

from benchmarks.common import digest
from benchmarks.seeding import Data, EngineName, concat, date_plus_days, insert_select, instant_minus, int_div
from lethe.demo.seed import DemoSpec, metadata, seed


def seed_demo(engine: sa.Engine, _dialect: EngineName, customers: int) -> int:
    """The demo generator's shop with ``customers`` customers; returns the rows written."""
    return sum(seed(engine, DemoSpec(customers=customers)).values())


def seed_sql_shop(engine: sa.Engine, dialect: EngineName, rows: int) -> int:
    """Customers 1..rows and their rows in every table, x-derived and identical on every engine."""
    x = "seq.x"
    written = 0

    def owner(per: int) -> str:
        return f"({int_div(dialect, f'{x} - 1', per)} + 1)"

    def at(days: str) -> str:
        return instant_minus(dialect, days, f"{x} * 37 % 86400")

    def fill(table: str, count: int, **columns: str) -> None:
        nonlocal written
        written += insert_select(connection, table, list(columns), list(columns.values()), count)

    with engine.begin() as connection:
        fill(
            "customers", rows, id=x, email=concat(dialect, "'c'", x, "'@example.com'"),
            full_name=concat(dialect, "'Customer '", x), phone=concat(dialect, "'+44 7700 '", f"{x} % 1000000"),
            birth_date=date_plus_days(dialect, "1950-01-01", f"{x} * 7919 % 18000"),
            postcode=concat(dialect, "'PC'", f"{x} % 10000"), city="'Dublin'", country="'IE'",
            iban=concat(dialect, "'IE29AIBK'", x), created_at=at(f"{x} % 3000"), last_login_at=at(f"{x} % 300"),
            status="'active'", legal_hold=f"({x} % 100 = 0)",
        )  # fmt: skip
        fill(
            "addresses", rows * 2, id=x, customer_id=owner(2), street=concat(dialect, "'Street '", x),
            kind=f"CASE WHEN {x} % 2 = 1 THEN 'billing' ELSE 'shipping' END",
            postcode="'D01'", city="'Dublin'", country="'IE'", created_at=at(f"{x} % 3000"),
        )  # fmt: skip
        fill(
            "orders", rows * 2, id=x, customer_id=owner(2), created_at=at(f"{x} % 2000"), status="'shipped'",
            total=f"({x} % 500) + 0.99", shipping_address_id=f"{owner(2)} * 2",
        )  # fmt: skip
        fill(
            "order_lines", rows * 4, id=x, order_id=owner(2), sku=concat(dialect, "'SKU-'", f"{x} % 997"),
            product_name="'Product'", quantity="1", unit_price="9.99",
        )  # fmt: skip
        fill(
            "support_tickets", rows // 2, id=x, customer_id=f"{x} * 2", opened_at=at(f"{x} % 700"),
            subject="'Question'", body=concat(dialect, "'Hello, I am customer '", x), status="'open'",
        )  # fmt: skip
        fill(
            "marketing_consents", rows, id=x, customer_id=x, purpose="'newsletter'",
            granted_at=at(f"{x} % 2000"), source="'signup_form'", evidence=concat(dialect, "'form-v3/'", x),
        )  # fmt: skip
        fill(
            "newsletter_sends", rows * 2, id=x, customer_id=owner(2),
            campaign=concat(dialect, "'campaign-'", f"{x} % 50"), sent_at=at(f"{x} % 700"),
        )  # fmt: skip
        fill(
            "web_sessions", rows * 4, id=x, customer_id=owner(4), started_at=at(f"{x} % 90"),
            ip_address=concat(dialect, "'10.1.'", f"{x} % 250", "'.'", f"{x} * 7 % 250"),
            user_agent="'Mozilla'",
        )  # fmt: skip
    return written


def shop_digest(url: str, _output: object = None) -> dict[str, tuple[int, str]]:
    """The final data of a copy: every shop table (not Lethe's own tables)."""
    return digest(url, metadata.sorted_tables)


DEMO_SHOP = Data(metadata, seed_demo)
SQL_SHOP = Data(metadata, seed_sql_shop)
