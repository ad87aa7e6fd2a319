"""B4: erase subjects of a shop (the demo schema) one by one, as Art. 17 requests, against hand-written SQL.

Data: the SQL-filled shop (``shop.SQL_SHOP``, the demo schema, about 16 rows per customer). The erasure
policy is the demo's (config/demo.yaml): anonymise the account, keep orders, lines and consents, delete
addresses (detaching the orders shipped to them), tickets, sends and sessions.

A measurement erases ``SUBJECTS`` customers spread over the key range, each found by its email, each in its
own transaction, the way a day's requests are worked through:

* Lethe: ``lethe.erasure.erase_subject`` for each, after one ``prepare_erasure`` (policy parsed, schema
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

import sqlalchemy as sa

from benchmarks.common import master_key, settings_for
from benchmarks.harness import LETHE, Benchmark, Method, Run
from benchmarks.report import Target
from benchmarks.shop import SQL_SHOP, shop_digest
from lethe.erasure import erase_subject
from lethe.erasure_plan import prepare_erasure
from lethe.ledger import Ledger
from lethe.loading import parse_policy
from lethe.operators.hmac import hmac_token
from lethe.stores import Stores, create_store_engine

BASELINE = "hand statements"
TARGETS = {("B4", BASELINE): Target("<= 2", at_most=2.0)}
SUBJECTS = 20
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


def subjects(customers: int, count: int) -> list[str]:
    """The emails of ``count`` customers spread over 1..customers, none on legal hold (x % 100 == 0)."""
    ids = [min(1 + i * customers // count + 7, customers) for i in range(count)]
    return [f"c{i if i % 100 else i + 1}@example.com" for i in ids]


# ---------------------------------------------------------------------------------------------- methods


def lethe_queue(url: str, workdir: Path, emails: list[str]) -> None:
    """Erase the customers one request (and transaction) at a time through Lethe, each by its email."""
    policy = parse_policy(POLICY, source="b4.yaml", environ={"DB_URL": url})
    settings = settings_for(workdir)
    ledger = Ledger.from_settings(settings)
    stores = Stores(policy)
    try:
        setup = prepare_erasure(policy, stores, settings, "customer")
        for email in emails:
            receipt = erase_subject(
                policy, stores, settings, "customer", email, ledger=ledger, run_id="b4", setup=setup
            )
            if not receipt.verified:
                raise AssertionError("an erasure was not verified")
    finally:
        stores.close()
        ledger._engine.dispose()


def hand_queue(url: str, emails: list[str]) -> None:
    """The statements a person would write, one transaction per customer."""
    engine = create_store_engine(url)
    if engine.dialect.name in ("mysql", "mariadb"):
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
        for email in emails:
            with engine.begin() as connection:
                query = sa.text("SELECT id, legal_hold FROM customers WHERE email = :e")
                key, held = connection.execute(query, {"e": email}).one()
                if not held:  # Art. 17(3)(e), as Lethe refuses it
                    connection.execute(sa.text(detach), {"c": key})
                    for table in ("addresses", "support_tickets", "newsletter_sends", "web_sessions"):
                        connection.execute(sa.text(f"DELETE FROM {table} WHERE customer_id = :c"), {"c": key})
                    token = hmac_token(master_key(), "db.customers.email", email)
                    connection.execute(sa.text(account), {"c": key, "token": token})
    finally:
        engine.dispose()


def methods(run: Run) -> list[Method]:
    """Lethe, then the hand-written statements, on the same customers."""
    emails = subjects(run.size, SUBJECTS)
    return [
        (LETHE, lambda url: lethe_queue(url, run.workdir, emails)),
        (BASELINE, lambda url: hand_queue(url, emails)),
    ]


BENCH = Benchmark(
    id="B4",
    summary="erase 20 customers, a transaction per subject: Lethe vs hand statements",
    data=SQL_SHOP,
    methods=methods,
    targets=TARGETS,
    size=100_000,
    quick=2_000,
    unit="customers",
    check=shop_digest,
)
