"""B4: erase subjects of a shop (the demo schema) one by one, as Art. 17 requests, against hand-written SQL.

Data: ``rows`` customers with 2 addresses, 2 orders (shipped to the second address) of 2 lines each, one
consent, 2 newsletter sends and 4 web sessions each, and a support ticket for every other customer (about
16 rows per customer, seeded in SQL). The erasure policy is the demo's (config/demo.yaml): anonymise the
account, keep orders, lines and consents, delete addresses (detaching the orders shipped to them), tickets,
sends and sessions.

A measurement erases ``SUBJECTS`` customers spread over the key range, each found by its email, each in its
own transaction, the way a day's requests are worked through:

* Lethe: ``lethe.requests.erasure.erase.erase_subject`` for each, after one ``prepare_erasure`` (policy parsed, schema
  reflected, subject graph built: all timed). Per subject that is: resolve, plan (counts), the request
  register (open, close), lock and re-check the hold, capture the lookups, the statements, verification in
  the transaction and after it, and one ledger entry.
* Baseline ``hand statements``: what a person would write, per subject in one transaction: find the id
  (and the legal hold) by email, detach the orders shipped to its addresses, delete addresses, tickets,
  sends and sessions, update the account with the same values (the hmac token computed in Python with the
  same column key). MariaDB gets the multi-table ``UPDATE ... JOIN`` form. Nothing is recorded.

Both must leave identical data (digest of every table). Target: lethe / hand <= 2.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from benchmarks.common import digest, master_key, settings_for
from benchmarks.harness import LETHE, Result, Target, Work, pair_results, run_rounds
from benchmarks.seeding import EngineName, concat, dataset, date_plus_days, insert_select, instant_minus
from lethe.demo.schema import metadata as shop_metadata
from lethe.ledger.chain import Ledger
from lethe.operators.hmac import hmac_token
from lethe.policy.loading import parse_policy
from lethe.requests.erasure.erase import erase_subject
from lethe.requests.erasure.plan import prepare_erasure
from lethe.stores.engines import Stores, create_store_engine

BASELINE = "hand statements"
TARGETS = {("B4", BASELINE): Target("<= 2", at_most=2.0)}
SUBJECTS = 20
CUSTOMERS = 100_000  # the intended size; ``run_b4`` takes any
POLICY = textwrap.dedent(
    """\
    version: 1
    controller: {name: Benchmark Ltd}
    stores:
      db: {url: "${DB_URL}", timezone: UTC}
    subjects:
      customer:
        store: db
        table: customers
        key: id
        lookup: [email]
        erasure:
          unless: [legal_hold]
          tables:
            db.customers:
              action: anonymise
              reason: orders point at the account and are kept 7 years for tax law
              columns:
                email: {operator: hmac}
                full_name: {operator: redact, value: erased}
                phone: {operator: "null"}
                iban: {operator: "null"}
                birth_date: {operator: "null"}
                postcode: {operator: generalise, keep: 2}
            db.orders: {action: keep, reason: tax law}
            db.order_lines: {action: keep, reason: tax law}
            db.marketing_consents: {action: keep, reason: proof of consent}
    """
)


# ------------------------------------------------------------------------------------------------- data


def _div(dialect: str, a: str, b: int) -> str:
    return f"(({a}) DIV {b})" if dialect == "mariadb" else f"(({a}) / {b})"


def seed_shop(connection: sa.Connection, dialect: str, rows: int) -> None:
    """Customers 1..rows and their rows in every table, x-derived and identical on every engine."""
    x = "seq.x"

    def owner(per: int) -> str:
        return f"({_div(dialect, f'{x} - 1', per)} + 1)"

    def at(days: str) -> str:
        return instant_minus(dialect, days, f"{x} * 37 % 86400")

    def fill(table: str, count: int, **columns: str) -> None:
        insert_select(connection, table, list(columns), list(columns.values()), count)

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
        "marketing_consents", rows, id=x, customer_id=x, purpose="'newsletter'", granted_at=at(f"{x} % 2000"),
        source="'signup_form'", evidence=concat(dialect, "'form-v3/'", x),
    )  # fmt: skip
    fill(
        "newsletter_sends", rows * 2, id=x, customer_id=owner(2),
        campaign=concat(dialect, "'campaign-'", f"{x} % 50"), sent_at=at(f"{x} % 700"),
    )  # fmt: skip
    fill(
        "web_sessions", rows * 4, id=x, customer_id=owner(4), started_at=at(f"{x} % 90"),
        ip_address=concat(dialect, "'10.1.'", f"{x} % 250", "'.'", f"{x} * 7 % 250"), user_agent="'Mozilla'",
    )  # fmt: skip


def subjects(rows: int, count: int = SUBJECTS) -> list[int]:
    """``count`` customer ids spread over 1..rows, none on legal hold (x % 100 == 0)."""
    ids = [1 + i * rows // count + 7 for i in range(count)]
    return [min(i if i % 100 else i + 1, rows) for i in ids]


# ---------------------------------------------------------------------------------------------- methods


def lethe_erase(url: str, workdir: Path, ids: list[int]) -> None:
    """Erase the customers one request at a time through Lethe, each by its email."""
    policy = parse_policy(POLICY, source="b4.yaml", environ={"DB_URL": url})
    settings = settings_for(workdir)
    ledger = Ledger.from_settings(settings)
    stores = Stores(policy)
    try:
        setup = prepare_erasure(policy, stores, settings, "customer")
        for cid in ids:
            receipt = erase_subject(
                policy, stores, settings, "customer", f"c{cid}@example.com",
                ledger=ledger, run_id=f"b4-{cid}", setup=setup,
            )  # fmt: skip
            if not receipt.verified:
                raise AssertionError(f"erasure of customer {cid} not verified")
    finally:
        stores.close()
        ledger._engine.dispose()


def hand_erase(url: str, ids: list[int]) -> None:
    """The statements a person would write, one transaction per customer."""
    engine = create_store_engine(url)
    mariadb = engine.dialect.name in ("mysql", "mariadb")
    if mariadb:
        detach = (
            "UPDATE orders o JOIN addresses a ON a.id = o.shipping_address_id "
            "SET o.shipping_address_id = NULL WHERE a.customer_id = :c"
        )
    else:
        detach = (
            "UPDATE orders SET shipping_address_id = NULL "
            "WHERE shipping_address_id IN (SELECT id FROM addresses WHERE customer_id = :c)"
        )
    account = (
        "UPDATE customers SET email = :token, full_name = 'erased', phone = NULL, iban = NULL, "
        "birth_date = NULL, postcode = substr(postcode, 1, 2) WHERE id = :c"
    )
    try:
        for cid in ids:
            email = f"c{cid}@example.com"
            with engine.begin() as connection:
                query = sa.text("SELECT id, legal_hold FROM customers WHERE email = :e")
                key, held = connection.execute(query, {"e": email}).one()
                if held:  # Art. 17(3)(e), as Lethe refuses it
                    continue
                connection.execute(sa.text(detach), {"c": key})
                for table in ("addresses", "support_tickets", "newsletter_sends", "web_sessions"):
                    connection.execute(sa.text(f"DELETE FROM {table} WHERE customer_id = :c"), {"c": key})
                token = hmac_token(master_key(), "db.customers.email", email)
                connection.execute(sa.text(account), {"c": key, "token": token})
    finally:
        engine.dispose()


def methods(workdir: Path, ids: list[int]) -> list[tuple[str, Work]]:
    """Lethe, then the hand-written statements."""
    return [(LETHE, lambda url: lethe_erase(url, workdir, ids)), (BASELINE, lambda url: hand_erase(url, ids))]


def shop_digest(url: str) -> object:
    """The final data of a copy: every table of the shop."""
    engine = create_store_engine(url)
    try:
        return digest(engine, list(shop_metadata.sorted_tables))
    finally:
        engine.dispose()


def run_b4(
    engine: EngineName,
    rows: int,
    pairs: int,
    workdir: Path,
    *,
    subjects_per_run: int = SUBJECTS,
    log: Any = None,
) -> list[Result]:
    """B4 on one engine: seed ``rows`` customers once, then ``pairs`` rounds of Lethe and hand statements."""
    ids = subjects(rows, subjects_per_run)
    with dataset(engine, shop_metadata, seed_shop, rows, workdir / f"b4-{engine}") as data:
        if log is not None:
            log(f"B4 {engine}: seeded {rows:,} customers in {data.seed_seconds:.1f} s")
        times = run_rounds(data, methods(data.workdir, ids), pairs, check=shop_digest, log=log)
    return pair_results("B4", engine, rows, times)


run = run_b4  # the name the other benchmark modules use


if __name__ == "__main__":  # python -m benchmarks.b4_erase [ENGINE [ROWS [PAIRS [SUBJECTS]]]]
    import sys
    import tempfile

    from benchmarks.harness import format_table, say

    engine_name = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else CUSTOMERS
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    per_run = int(sys.argv[4]) if len(sys.argv) > 4 else SUBJECTS
    with tempfile.TemporaryDirectory(prefix="lethe-b4-") as tmp:
        engine = cast(EngineName, engine_name)
        results = run_b4(engine, size, rounds, Path(tmp), subjects_per_run=per_run, log=say)
    print(format_table(results, TARGETS))
