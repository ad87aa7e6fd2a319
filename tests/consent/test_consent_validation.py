"""`lethe validate` refuses a consent block naming tables or columns the store does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.shop import DEMO, open_shop

from lethe.validation.policy import validate_policy


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("  notice_version: notice_version\n", "  notice_version: notice_text\n", "consent"),
        (
            "        shop.newsletter_sends: {subject_column: customer_id}",
            "        shop.newsletter_sent: {subject_column: customer_id}",
            "consent.purposes.newsletter",
        ),
        (
            "        shop.newsletter_sends: {subject_column: customer_id}",
            "        shop.newsletter_sends: {subject_column: client_id}",
            "consent.purposes.newsletter",
        ),
    ],
)
def test_unknown_consent_table_or_column_is_an_error(
    db_url: str, tmp_path: Path, old: str, new: str, where: str
) -> None:
    text = DEMO.read_text()
    assert old in text
    with open_shop(db_url, tmp_path, policy_text=text.replace(old, new)) as shop:
        errors = [f for f in validate_policy(shop.policy, shop.stores) if f.severity == "error"]
    assert errors and all(f.where.startswith(where) for f in errors), errors


def test_demo_consent_block_fits(db_url: str, tmp_path: Path) -> None:
    with open_shop(db_url, tmp_path) as shop:
        assert [f for f in validate_policy(shop.policy, shop.stores) if f.severity == "error"] == []
