"""Erasure (Art. 17) on real databases: the demo shop (config/demo.yaml) and a private copy of Chinook.

The demo policy deletes a customer's addresses, tickets, newsletter sends and web sessions, anonymises the
account (orders point at it and are kept 7 years) and keeps orders, order lines and consents. Every test
compares data before and after; none mocks anything. The shop comes from ``support.shop``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from support.databases import (
    ChinookDb,
    drop_scratch_database,
    load_chinook_mariadb,
    load_chinook_postgresql,
    load_chinook_sqlite,
)
from support.shop import (
    DELETED,
    DEMO,
    MASTER_KEY,
    ORDERS,
    Shop,
    erase,
    fingerprint_of,
    full_customer,
    open_shop,
    settings_env,
)

from lethe.errors import SchemaMismatchError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.operators.hmac import hmac_token
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import ErasureBlockedError, erase_subject
from lethe.requests.erasure.plan import plan_erasure, prepare_erasure
from lethe.requests.subjects import resolve_subject
from lethe.settings import load_settings
from lethe.stores.engines import Stores, create_store_engine
from lethe.validation.policy import validate_policy

ROOT = Path(__file__).resolve().parents[2]
CHINOOK_POLICY = ROOT / "tests" / "policies" / "chinook_erasure.yaml"


LINES = (
    "SELECT * FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE customer_id = {c}) ORDER BY id"
)
CONSENTS = "SELECT * FROM marketing_consents WHERE customer_id = {c} ORDER BY id"
TAX = "tax law: 7 years (Art. 17(3)(b))"


def test_erasure_deletes_anonymises_and_keeps_as_the_policy_says(shop: Shop) -> None:
    cid = full_customer(shop)
    email, name, phone = shop.rows("SELECT email, full_name, phone FROM customers WHERE id = :c", c=cid)[0]
    address = shop.one("SELECT min(id) FROM addresses WHERE customer_id = :c", c=cid)
    # Another customer's order shipped to this customer's address: detached, and reported, not hidden.
    other_order = shop.one("SELECT min(id) FROM orders WHERE customer_id <> :c", c=cid)
    shop.execute("UPDATE orders SET shipping_address_id = :a WHERE id = :o", a=address, o=other_order)
    others = shop.checksum("customers", f"id <> {cid}")
    kept = [shop.rows(q.format(c=cid)) for q in (ORDERS, LINES, CONSENTS)]
    untouched_orders = shop.checksum("orders", f"customer_id <> {cid} AND id <> {other_order}")
    mine = f"SELECT id FROM addresses WHERE customer_id = {cid}"
    detach = shop.one(f"SELECT count(*) FROM orders WHERE shipping_address_id IN ({mine})")

    receipt = erase(shop, email)

    for table in DELETED:
        assert shop.one(f"SELECT count(*) FROM {table} WHERE customer_id = {cid}") == 0, table
    columns = "email, full_name, phone, iban, birth_date, postcode"
    row = shop.rows(f"SELECT {columns} FROM customers WHERE id = :c", c=cid)[0]
    assert row[0] == hmac_token(MASTER_KEY, "shop.customers.email", email) and row[0].startswith("~h1:")
    assert row[1:5] == ("erased", None, None, None) and len(row[5]) == 2
    assert [shop.rows(q.format(c=cid)) for q in (ORDERS, LINES, CONSENTS)] == kept
    assert shop.one(f"SELECT count(shipping_address_id) FROM orders WHERE customer_id = {cid}") == 0
    assert shop.one("SELECT shipping_address_id FROM orders WHERE id = :o", o=other_order) is None
    assert shop.checksum("customers", f"id <> {cid}") == others
    assert shop.checksum("orders", f"customer_id <> {cid} AND id <> {other_order}") == untouched_orders

    assert receipt.outcome == "completed" and receipt.verified
    assert receipt.detached == {"shop.orders": detach}
    by_table = {t.table: t for t in receipt.tables}
    assert (by_table["shop.customers"].action, by_table["shop.customers"].rows) == ("anonymise", 1)
    assert {t.table for t in receipt.erased} == {f"shop.{t}" for t in DELETED}
    assert all(by_table[f"shop.{t}"].rows > 0 for t in DELETED)
    assert {t.table: t.reason for t in receipt.kept if t.action == "keep"} == {
        "shop.orders": TAX,
        "shop.order_lines": TAX,
        "shop.marketing_consents": "proof of consent and of its withdrawal (Art. 7(1))",
    }
    with pytest.raises(SubjectError, match="no customer matches"):
        resolve_subject(shop.policy, shop.stores, "customer", email)

    (entry,) = [e.entry for e in shop.entries()]
    assert (entry.flow, entry.action, entry.outcome) == ("erasure", "erase", "completed")
    assert entry.fingerprints == (fingerprint_of(shop, cid),)
    assert entry.counts["delete:shop.web_sessions"] == by_table["shop.web_sessions"].rows
    assert entry.details["reason:shop.orders"] == TAX
    (request,) = shop.register()
    assert (request.type, request.status) == ("erasure", "completed")
    assert request.subject_fingerprint == fingerprint_of(shop, cid) and entry.details["request"] == request.id

    # Erasing again (by the key, which a pseudonymised account keeps) changes nothing, hashes nothing twice.
    before = shop.snapshot()
    again = erase(shop, str(cid))
    assert again.verified and shop.snapshot() == before
    changed = {t.table: t.rows for t in again.tables if t.action != "keep"}
    assert changed == dict.fromkeys(["shop.customers", *(f"shop.{t}" for t in DELETED)], 0)
    assert any("kept pseudonymised" in c for c in again.checks)

    # The ledger database holds no personal value: neither the identifier nor anything of the row.
    data = shop.ledger_bytes()
    for value in (email, name, phone, email.split("@")[0]):
        assert value is None or value.encode() not in data


def test_holds_dry_runs_unknown_and_ambiguous_subjects_change_nothing(shop: Shop) -> None:
    held = shop.one("SELECT min(id) FROM customers WHERE legal_hold")
    held_email = shop.one("SELECT email FROM customers WHERE id = :c", c=held)
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    # A second customer whose email is the text of cid's key: identifier str(cid) now matches two subjects.
    other = shop.one("SELECT max(id) FROM customers WHERE id <> :c AND NOT legal_hold", c=cid)
    shop.execute("UPDATE customers SET email = :e WHERE id = :o", e=str(cid), o=other)
    before = shop.snapshot()

    with pytest.raises(ErasureBlockedError) as blocked:
        erase(shop, held_email)
    assert "legal_hold" in str(blocked.value) and "Art. 17(3)(e)" in str(blocked.value)
    assert blocked.value.plan is not None and blocked.value.plan.blocked[0].flag == "legal_hold"

    plan = erase(shop, email, dry_run=True)
    assert plan.outcome == "dry-run" and not plan.verified
    assert {t.table for t in plan.tables if t.action == "delete" and t.rows} == {f"shop.{t}" for t in DELETED}
    planned = plan_erasure(shop.policy, shop.stores, shop.settings, "customer", email)
    assert [(t.table, t.rows) for t in planned.tables] == [(t.table, t.rows) for t in plan.tables]

    with pytest.raises(SubjectError, match="no customer matches") as missing:
        erase(shop, "nobody-4711@example.org")
    assert "nobody-4711" not in str(missing.value)
    with pytest.raises(SubjectError, match="more than one"):
        erase(shop, str(cid))
    with pytest.raises(SubjectError, match="unknown subject"):
        erase_subject(shop.policy, shop.stores, shop.settings, "robot", "x", ledger=shop.ledger, run_id="r")

    assert shop.snapshot() == before
    outcomes = [(e.entry.action, e.entry.outcome) for e in shop.entries()]
    assert outcomes == [
        ("erase", "blocked"), ("erase.plan", "dry-run"), ("erase", "not-found"), ("erase", "ambiguous")
    ]  # fmt: skip
    statuses = [(r.type, r.status) for r in shop.register()]
    assert statuses == [("erasure", "refused"), ("erasure", "not-found"), ("erasure", "refused")]
    assert "Art. 17(3)(e)" in (shop.register()[0].outcome or "")


def test_validation_finds_erasure_policy_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    with open_shop(url, tmp_path) as shop:
        assert validate_policy(shop.policy, shop.stores) == []
    text = DEMO.read_text()
    # Deleting orders while keeping their lines (NOT NULL key) would orphan kept rows.
    orphans = text.replace('shop.orders: {action: keep, reason: "tax law: 7 years (Art. 17(3)(b))"}', "")
    # Deleting the account while orders (kept) point at it.
    account = re.sub(r"        shop\.customers:\n(          .*\n|            .*\n)+", "", text)
    # Anonymising the account but leaving the email (a lookup column) in place.
    lookup = text.replace("            email: {operator: hmac}\n", "", 1)
    # A hold flag that is not boolean, a rectification column that does not exist, a link rewritten.
    odd = (
        text.replace("unless: [legal_hold]", "unless: [city]")
        .replace("columns: [email, full_name, phone, postcode, city]", "columns: [email, nickname]")
        .replace(
            "shop.marketing_consents: {action: keep",
            'shop.marketing_consents: {action: anonymise, columns: {customer_id: {operator: "null"}}',
        )
    )
    cases = {
        "orphans": (orphans, {"erasure-orphans-kept"}),
        "account": (account, {"erasure-orphans-kept"}),
        "lookup": (lookup, {"erasure-lookup-kept"}),
        # (and anonymising consents without rewriting their declared evidence column)
        "odd": (
            odd,
            {"exemption-not-boolean", "missing-column", "erasure-anonymise-link", "erasure-personal-left"},
        ),
    }
    for name, (variant, codes) in cases.items():
        with open_shop(url, tmp_path, policy_text=variant, seeded=False) as shop:
            found = {f.code for f in validate_policy(shop.policy, shop.stores) if f.severity == "error"}
            assert found == codes, name
            with pytest.raises(SchemaMismatchError, match="erasure settings of customer"):
                prepare_erasure(shop.policy, shop.stores, shop.settings, "customer")


# ---------------------------------------------------------------------------------------------- Chinook


def _snake(text: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", text).lower()


def chinook_policy(db: ChinookDb) -> Policy:
    """tests/policies/chinook_erasure.yaml, its identifiers as this copy spells them."""
    data = yaml.safe_load(CHINOOK_POLICY.read_text())
    if db.naming == "snake":
        identifier = re.compile(r"^(chinook\.)?[A-Z][a-z]+(?:[A-Z][a-z]+)*$")

        def convert(node: Any) -> Any:
            if isinstance(node, dict):
                return {convert(k): convert(v) for k, v in node.items()}
            if isinstance(node, list):
                return [convert(v) for v in node]
            if isinstance(node, str) and identifier.match(node):
                return ".".join(_snake(part) for part in node.split("."))
            return node

        data = convert(data)
    return parse_policy(yaml.safe_dump(data), source="chinook_erasure.yaml", environ={"CHINOOK_URL": db.url})


@pytest.fixture
def chinook_copy(
    request: pytest.FixtureRequest, chinook_url: ChinookDb, tmp_path: Path
) -> Iterator[ChinookDb]:
    """A private, writable copy of Chinook on the same engine as ``chinook_url``."""
    if chinook_url.engine_name == "sqlite":
        yield load_chinook_sqlite(tmp_path)
        return
    db = load_chinook_postgresql() if chinook_url.engine_name == "postgresql" else load_chinook_mariadb()
    try:
        yield db
    finally:
        drop_scratch_database(db.url)


def test_chinook_erasure_keeps_invoices_pseudonymised(chinook_copy: ChinookDb, tmp_path: Path) -> None:
    n = chinook_copy.name
    policy = chinook_policy(chinook_copy)
    settings = load_settings(settings_env(tmp_path))
    engine = create_store_engine(chinook_copy.url)
    ledger = Ledger.from_settings(settings)
    customer, invoice, line, cid = n("Customer"), n("Invoice"), n("InvoiceLine"), n("CustomerId")
    queries = {  # what must not change: kept invoice columns, the lines, other customers and their invoices
        "invoices": f"SELECT {n('InvoiceId')}, {n('InvoiceDate')}, {n('Total')}, {n('BillingCountry')} "
        f"FROM {invoice} WHERE {cid} = 5",
        "lines": f"SELECT * FROM {line} WHERE {n('InvoiceId')} IN (SELECT {n('InvoiceId')} FROM {invoice} "
        f"WHERE {cid} = 5)",
        "customers": f"SELECT * FROM {customer} WHERE {cid} <> 5",
        "other invoices": f"SELECT * FROM {invoice} WHERE {cid} <> 5",
    }

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql + " ORDER BY 1"))]

    try:
        email = rows(f"SELECT {n('Email')} FROM {customer} WHERE {cid} = 5")[0][0]
        before = {name: rows(sql) for name, sql in queries.items()}
        with Stores(policy) as stores:
            assert validate_policy(policy, stores) == []
            receipt = erase_subject(policy, stores, settings, "customer", email, ledger=ledger, run_id="c")
            with pytest.raises(SubjectError, match="no customer matches"):
                resolve_subject(policy, stores, "customer", email)
        assert receipt.verified and receipt.erased == ()
        assert {t.table: (t.action, t.rows) for t in receipt.tables} == {
            f"chinook.{customer}": ("anonymise", 1),
            f"chinook.{invoice}": ("anonymise", len(before["invoices"])),
            f"chinook.{line}": ("keep", len(before["lines"])),
        }
        assert all("tax law" in (t.reason or "") for t in receipt.kept)
        names = ("Email", "FirstName", "LastName", "Address", "Phone", "PostalCode")
        (after,) = rows(f"SELECT {', '.join(map(n, names))} FROM {customer} WHERE {cid} = 5")
        assert after[0] == hmac_token(MASTER_KEY, f"chinook.{customer}.{n('Email')}", email, length=32)
        assert after[1:5] == ("erased", "erased", None, None) and len(after[5]) <= 2
        billing = ", ".join(map(n, ("BillingAddress", "BillingCity", "BillingState", "BillingPostalCode")))
        for address, city, state, postcode in rows(f"SELECT {billing} FROM {invoice} WHERE {cid} = 5"):
            assert (address, city, state) == (None, None, None) and (postcode is None or len(postcode) <= 2)
        assert {name: rows(sql) for name, sql in queries.items()} == before
        assert [e.entry.outcome for e in ledger.entries()] == ["completed"]
    finally:
        engine.dispose()
        ledger._engine.dispose()
