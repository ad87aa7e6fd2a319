"""Opening a breach: scope counts from the data map, drafts with every Art. 33(3) field, the register entry,
the encrypted contact list, processor drafts, refusals; on all three engines."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from support.shop import DEMO, Shop, open_shop

from lethe.breach import ScopeRequest, open_breach
from lethe.breach.register import BreachResult, record_assessment
from lethe.errors import ParameterError
from lethe.requests.export.crypto import decrypt_file

PASSPHRASE = "a long enough passphrase"
PROCESSOR = DEMO.read_text().replace(
    "  role: controller\n",
    "  role: processor\n  controllers:\n    acme: {name: Acme Retail GmbH}\n    beta: {name: Beta Foods SA}\n",
)
HEALTH = DEMO.read_text().replace(
    "      subject: {category: user.content}\n      body: {category: user.content}",
    "      subject: {category: user.content}\n      body: {category: user.health}",
)


def open_(
    shop: Shop, tmp_path: Path, passphrase: str | None = PASSPHRASE, **scope: tuple[str, ...]
) -> BreachResult:
    return open_breach(
        shop.policy, shop.stores, ledger=shop.ledger, request=ScopeRequest(**scope),
        description="a backup copy was readable from a public bucket", out_dir=tmp_path / "breaches",
        run_id=shop.run_id(), passphrase=passphrase,
    )  # fmt: skip


def test_scope_counts_come_from_the_tables(shop: Shop, tmp_path: Path) -> None:
    result = open_(
        shop,
        tmp_path,
        tables=("shop.customers", "shop.order_lines"),
        columns=("shop.web_sessions.ip_address",),
    )
    by_table = {t.table: t for t in result.scope.tables}
    assert by_table["shop.customers"].records == shop.one("SELECT count(*) FROM customers")
    assert by_table["shop.order_lines"].records == shop.one("SELECT count(*) FROM order_lines")
    assert by_table["shop.order_lines"].subjects == shop.one(
        "SELECT count(DISTINCT o.customer_id) FROM order_lines l JOIN orders o ON o.id = l.order_id"
    )
    assert by_table["shop.web_sessions"].columns == ["ip_address"]
    assert by_table["shop.web_sessions"].subjects == shop.one(
        "SELECT count(DISTINCT customer_id) FROM web_sessions WHERE customer_id IS NOT NULL"
    )
    assert result.scope.subjects == shop.one(
        "SELECT count(*) FROM customers"
    )  # every customer is in the table
    assert result.scope.records == sum(t.records for t in result.scope.tables)
    assert "user.device.ip_address" in result.scope.categories and result.scope.special_categories == []


def test_draft_has_every_article_33_3_field_and_lists_the_gaps(shop: Shop, tmp_path: Path) -> None:
    result = open_(shop, tmp_path, tables=("shop.orders",))
    markdown = (result.folder / "notification.md").read_text()
    page = (result.folder / "notification.html").read_text()
    for heading in ("33(3)(a)", "33(3)(b)", "33(3)(c)", "33(3)(d)"):
        assert heading in markdown and heading in page
    assert "Approximate number of data subjects: " + str(result.scope.subjects) in markdown
    assert "Data Protection Officer, dpo@example.com" in markdown  # (b) from controller.dpo
    assert "## Gaps to fill before sending" in markdown
    assert any("33(3)(c)" in gap for gap in result.gaps) and any("--from" in gap for gap in result.gaps)
    assert result.due.isoformat() in markdown
    assert "<script" not in page and page.startswith("<!doctype html>")


def test_register_entry_in_the_ledger(shop: Shop, tmp_path: Path) -> None:
    result = open_(shop, tmp_path, tables=("shop.customers",))
    entry = shop.entries()[-1].entry
    assert entry.action == "breach-open" and entry.rule == f"breach:{result.breach_id}"
    assert (
        entry.counts["subjects"] == result.scope.subjects and entry.counts["records"] == result.scope.records
    )
    assert entry.details["due"] == result.due.isoformat() and entry.details["contacts_encrypted"] is True
    assessment = record_assessment(
        shop.policy, ledger=shop.ledger, breach_id=result.breach_id, answers={"high_risk": True}, run_id="r"
    )
    assert assessment.recommendation == "communicate"
    assert shop.entries()[-1].entry.outcome == "communicate"


def test_contact_list_is_encrypted_and_decrypts_to_the_subjects(shop: Shop, tmp_path: Path) -> None:
    result = open_(shop, tmp_path, tables=("shop.orders",))
    assert result.contacts is not None
    emails = {r[0] for r in shop.rows("SELECT email FROM customers")}
    raw = result.contacts.read_bytes()
    assert not any(email.encode() in raw for email in emails)
    plain = decrypt_file(result.contacts, PASSPHRASE, tmp_path / "plain").read_text()
    rows = list(csv.DictReader(io.StringIO(plain)))
    ordered = {r[0] for r in shop.rows("SELECT DISTINCT customer_id FROM orders")}
    assert {int(r["key"]) for r in rows} == ordered
    assert {r["column"] for r in rows} <= {"email", "phone"}
    assert result.contacts_count == len(ordered) == result.scope.subjects


def test_without_passphrase_no_contact_list_and_a_gap(shop: Shop, tmp_path: Path) -> None:
    result = open_(shop, tmp_path, passphrase=None, tables=("shop.orders",))
    assert result.contacts is None and not list(result.folder.glob("contacts*"))
    assert any("contact list" in gap for gap in result.gaps)


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"tables": ("shop.nothing",)}, "--tables"),
        ({"columns": ("shop.customers.shoe_size",)}, "--columns"),
        ({"stores": ("elsewhere",)}, "--stores"),
        ({}, "needs a scope"),
    ],
)
def test_bad_scope_refused_before_anything_is_written(
    shop: Shop, tmp_path: Path, scope: dict[str, tuple[str, ...]], message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        open_(shop, tmp_path, **scope)
    assert not (tmp_path / "breaches").exists() and shop.entries() == []


def test_processor_mode_drafts_one_notification_per_controller(db_url: str, tmp_path: Path) -> None:
    with open_shop(db_url, tmp_path, policy_text=PROCESSOR) as shop:
        result = open_(shop, tmp_path, tables=("shop.customers",))
        assert result.controllers == ["acme", "beta"]
        assert not (result.folder / "notification.md").exists()
        for name, title in (("acme", "Acme Retail GmbH"), ("beta", "Beta Foods SA")):
            assert f"To: {title}" in (result.folder / "controllers" / f"{name}.md").read_text()
            assert (result.folder / "controllers" / f"{name}.html").is_file()
        assert shop.entries()[-1].entry.details["role"] == "processor"


def test_special_categories_are_named_and_presume_high_risk(db_url: str, tmp_path: Path) -> None:
    with open_shop(db_url, tmp_path, policy_text=HEALTH) as shop:
        result = open_(shop, tmp_path, stores=("shop",))
        assert result.scope.special_categories == ["user.health"]
        assert (
            "Special categories (Arts. 9, 10): user.health" in (result.folder / "notification.md").read_text()
        )
        assessment = record_assessment(
            shop.policy, ledger=shop.ledger, breach_id=result.breach_id, answers={}, run_id="r"
        )
        assert assessment.recommendation == "communicate" and assessment.answers["high_risk"] is True


def test_processor_mode_names_only_the_controllers_whose_rows_are_in_scope(
    db_url: str, tmp_path: Path
) -> None:
    # The demo has no tenant column: customers.status stands in for one ('active' rows and 'closed' rows).
    text = PROCESSOR.replace(
        "    acme: {name: Acme Retail GmbH}\n    beta: {name: Beta Foods SA}\n",
        "    acme: {name: Acme Retail GmbH, key: active}\n    beta: {name: Beta Foods SA, key: suspended}\n"
        "  controller_column: status\n",
    )
    with open_shop(db_url, tmp_path, policy_text=text) as shop:
        result = open_(shop, tmp_path, tables=("shop.customers",))
        assert result.controllers == ["acme"]
        assert {p.name for p in (result.folder / "controllers").iterdir()} == {"acme.md", "acme.html"}
