"""Art. 19: recipients told of an erasure, rectification or restriction, on every engine.

The demo shop gets a `recipients:` block: a webhook (a local HTTP endpoint), an outbox table in the shop's own
database, a manual task and a recipient exempted for disproportionate effort. After a real erasure and a
rectification each concerned recipient is told through its channel and recorded in the ledger with counts
and the request's reference; nothing sent or stored holds a personal value. An export's facts list them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.shop import DEMO, Shop, erase, full_customer, open_shop, rectify
from support.webhook import local_webhook

from lethe.errors import PolicyError
from lethe.policy.loading import parse_policy
from lethe.requests.export.facts import facts_for
from lethe.requests.recipients import notify_recipients, touched_tables

RECIPIENTS = """
recipients:
  mailer:
    description: the newsletter service
    tables: [shop.newsletter_sends]
    channel: webhook
    url: {url}
  warehouse:
    description: the logistics partner, which holds delivery addresses and emails
    categories: [user.contact.email, user.contact.address.street]
    channel: outbox
    outbox: shop.recipient_outbox
  accountant:
    tables: [shop.support_tickets]
    channel: manual
    instructions: email the accountant the request's reference
  old-partner:
    tables: [shop.web_sessions]
    channel: webhook
    url: http://127.0.0.1:9/never
    disproportionate_effort: the partner was dissolved in 2024; no one to tell
"""


@pytest.fixture
def told(db_url: str, tmp_path: Path) -> Iterator[tuple[Shop, list[str]]]:
    """The demo shop with the recipients above; the webhook's received bodies."""
    with local_webhook() as (url, bodies):
        policy_text = DEMO.read_text() + RECIPIENTS.format(url=url)
        with open_shop(db_url, tmp_path, policy_text=policy_text) as shop:
            yield shop, bodies


def _outbox(shop: Shop) -> list[tuple[str, str, str | None, dict[str, int]]]:
    rows = shop.rows(
        "SELECT recipient, action, request_id, counts FROM recipient_outbox ORDER BY created_at, id"
    )
    return [(r, a, q, json.loads(c)) for r, a, q, c in rows]


def test_recipients_are_told_and_recorded(told: tuple[Shop, list[str]]) -> None:
    shop, bodies = told
    key = full_customer(shop)
    email, name = shop.rows("SELECT email, full_name FROM customers WHERE id = :k", k=key)[0]
    receipt = erase(shop, str(key))
    assert receipt.outcome == "completed"
    outcome = {"plan": [[t.table, t.action, t.rows, t.reason] for t in receipt.tables]}
    touched = touched_tables(shop.policy, "erasure", "customer", outcome)
    assert "shop.orders" not in touched  # kept on a legal ground: not changed, nobody to tell
    notes = notify_recipients(
        shop.policy, shop.stores, "erasure", touched, request_id=receipt.request_id, ledger=shop.ledger,
        run_id="r19",
    )  # fmt: skip
    by_name = {n.recipient: n for n in notes}
    assert {k: n.outcome for k, n in by_name.items()} == {
        "mailer": "notified", "warehouse": "queued", "accountant": "manual", "old-partner": "exempted",
    }  # fmt: skip
    assert by_name["old-partner"].reason == "the partner was dissolved in 2024; no one to tell"
    # The webhook got counts and the reference.
    (body,) = [json.loads(b) for b in bodies]
    assert body["recipient"] == "mailer" and body["request"] == receipt.request_id
    assert (
        body["tables"] == {"shop.newsletter_sends": touched["shop.newsletter_sends"]}
        and body["action"] == "erasure"
    )
    # The outbox row is in the shop's own database: customers (email) and addresses (street) were touched.
    ((who, action, request, counts),) = _outbox(shop)
    assert (who, action, request) == ("warehouse", "erasure", receipt.request_id)
    assert counts == {t: touched[t] for t in ("shop.addresses", "shop.customers")}

    entries = [r.entry for r in shop.entries() if r.entry.action == "recipient.notify"]
    assert sorted((e.details["recipient"], e.outcome) for e in entries) == [
        ("accountant", "manual"), ("mailer", "notified"), ("old-partner", "exempted"), ("warehouse", "queued"),
    ]  # fmt: skip
    exempted = next(e for e in entries if e.outcome == "exempted")
    assert exempted.details["reason"].startswith("the partner was dissolved")
    assert all(e.details["request"] == receipt.request_id for e in entries)
    sent = "".join(bodies) + repr(_outbox(shop)) + shop.ledger_bytes().decode("latin-1")
    assert email not in sent and name not in sent

    # A rectification touches the identity table: the warehouse (emails) is told, the mailer is not.
    other = key + 1 if key < 60 else key - 1
    result = rectify(shop, str(other), {"email": "corrected-address@example.invalid"})
    touched = touched_tables(shop.policy, "rectification", "customer", {"rows": result.rows})
    notes = notify_recipients(
        shop.policy, shop.stores, "rectification", touched, request_id=result.request_id, ledger=shop.ledger,
        run_id="r16",
    )  # fmt: skip
    assert [(n.recipient, n.outcome) for n in notes] == [("warehouse", "queued")]
    # Two rows now (MariaDB keeps whole seconds: the same created_at, so found by action, not by order).
    assert sorted(row[:3] for row in _outbox(shop))[1] == ("warehouse", "rectification", result.request_id)
    assert len(bodies) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failed_webhook_is_recorded_not_raised(told: tuple[Shop, list[str]]) -> None:
    shop, _bodies = told

    def refuse(_url: str, _body: bytes) -> None:
        raise ConnectionRefusedError

    notes = notify_recipients(
        shop.policy, shop.stores, "restriction", {"shop.newsletter_sends": 2}, request_id=None,
        ledger=shop.ledger, run_id="r18", post=refuse,
    )  # fmt: skip
    assert [(n.recipient, n.outcome, n.reason) for n in notes] == [
        ("mailer", "failed", "ConnectionRefusedError")
    ]
    assert [r.entry.outcome for r in shop.entries()] == ["failed"]


def test_the_facts_of_an_export_list_the_recipients() -> None:
    policy = parse_policy(
        DEMO.read_text() + RECIPIENTS.format(url="https://example.invalid/hook"), source="t"
    )
    names = [r.name for r in facts_for(policy, "customer").recipients]
    assert names == ["mailer", "warehouse", "accountant", "old-partner"]
    assert facts_for(parse_policy(DEMO.read_text(), source="t"), "customer").recipients == []


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  x: {tables: [shop.orders], channel: webhook}", "needs `url:`"),
        ("  x: {tables: [shop.orders], channel: outbox}", "needs `outbox:`"),
        ("  x: {channel: manual}", "`tables:` or `categories:`"),
        ("  x: {categories: [user.nonsense], channel: manual}", "unknown data category"),
        ("  x: {tables: [nowhere.orders], channel: manual}", "unknown store"),
        ("  x: {tables: [shop.orders], channel: fax}", "channel"),
    ],
)
def test_bad_recipients_are_refused_at_load(block: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(DEMO.read_text() + "recipients:\n" + block + "\n", source="t")
