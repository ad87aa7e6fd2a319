"""A subject pseudonymised by retention is still found by its original lookup value (issue 9, item 5).

Retention's ``inactive-customers-3y`` rewrites a customer's email with ``hmac``; Lethe holds the key, so a
request by the original email must find the customer through the token retention wrote, and the export and
the erasure must then cover its remaining rows (addresses, orders) as the policy says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.shop import DEMO, ORDERS, Shop, erase, open_shop, settings_env

from lethe.demo.seed import DemoSpec
from lethe.errors import SubjectNotFoundError
from lethe.operators.hmac import hmac_token
from lethe.requests.export.archive import export_subject
from lethe.requests.subjects import resolve_subject
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings

RULE = "inactive-customers-3y"


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


def pseudonymise(shop: Shop) -> dict[int, str]:
    """Run the demo's inactive-customers rule at the demo's instant; return every customer's former email."""
    emails = {int(k): str(v) for k, v in shop.rows("SELECT id, email FROM customers")}
    run = RetentionRun(shop.policy, shop.stores, shop.settings, DemoSpec().as_of, ledger=shop.ledger)
    assert enforce_rule(run, shop.policy.rule(RULE)).applied > 0
    return emails


def pseudonymised_customer(shop: Shop) -> int:
    """A pseudonymised customer without a hold that still has addresses and orders."""
    has = " AND ".join(
        f"EXISTS (SELECT 1 FROM {t} x WHERE x.customer_id = c.id)" for t in ("addresses", "orders")
    )
    return int(
        shop.one(f"SELECT min(c.id) FROM customers c WHERE c.email LIKE '~h1:%' AND NOT legal_hold AND {has}")
    )


def test_requests_find_a_pseudonymised_customer_by_its_original_email(shop: Shop, tmp_path: Path) -> None:
    emails = pseudonymise(shop)
    cid = pseudonymised_customer(shop)
    email = emails[cid]
    assert shop.one("SELECT email FROM customers WHERE id = :c", c=cid) == hmac_token(
        bytes.fromhex(settings_env(tmp_path)["LETHE_MASTER_KEY"]), "shop.customers.email", email
    )
    addresses = shop.one("SELECT count(*) FROM addresses WHERE customer_id = :c", c=cid)
    orders = shop.rows(ORDERS.format(c=cid))
    n_orders = shop.one("SELECT count(*) FROM orders WHERE customer_id = :c", c=cid)

    # Without the key the email identifies nobody; with the settings (the key) it finds the customer.
    with pytest.raises(SubjectNotFoundError):
        resolve_subject(shop.policy, shop.stores, "customer", email)
    assert resolve_subject(shop.policy, shop.stores, "customer", email, settings=shop.settings) == cid
    # Tokens of an earlier key version still match after a rotation.
    rotated = load_settings({**settings_env(tmp_path), "LETHE_KEY_VERSION": "2"})
    assert resolve_subject(shop.policy, shop.stores, "customer", email, settings=rotated) == cid

    exported = export_subject(
        shop.policy, shop.stores, "customer", email, tmp_path / "out",
        settings=shop.settings, ledger=shop.ledger, run_id=shop.run_id(),
    )  # fmt: skip
    assert exported.counts["shop.customers"] == 1
    assert (exported.counts["shop.addresses"], exported.counts["shop.orders"]) == (addresses, n_orders)

    receipt = erase(shop, email)
    assert receipt.outcome == "completed" and receipt.verified
    by_table = {t.table: t for t in receipt.tables}
    assert (by_table["shop.addresses"].action, by_table["shop.addresses"].rows) == ("delete", addresses)
    assert (by_table["shop.orders"].action, by_table["shop.orders"].rows) == ("keep", n_orders)
    assert shop.one("SELECT count(*) FROM addresses WHERE customer_id = :c", c=cid) == 0
    assert shop.rows(ORDERS.format(c=cid)) == orders  # kept for tax law (their address link is detached)
    assert [(r.type, r.status) for r in shop.register()] == [
        ("access", "completed"),
        ("erasure", "completed"),
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_operators_length_option_is_respected(db_url: str, tmp_path: Path) -> None:
    text = DEMO.read_text()
    rule = text.index(f"name: {RULE}")
    shortened = text[:rule] + text[rule:].replace(
        "email: {operator: hmac}", "email: {operator: hmac, length: 16}", 1
    )
    with open_shop(db_url, tmp_path, policy_text=shortened) as shop:
        emails = pseudonymise(shop)
        cid = pseudonymised_customer(shop)
        assert len(shop.one("SELECT email FROM customers WHERE id = :c", c=cid)) == len("~h1:") + 16
        assert (
            resolve_subject(shop.policy, shop.stores, "customer", emails[cid], settings=shop.settings) == cid
        )
        assert erase(shop, emails[cid]).verified
        assert shop.one("SELECT count(*) FROM addresses WHERE customer_id = :c", c=cid) == 0
