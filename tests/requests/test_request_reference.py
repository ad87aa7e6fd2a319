"""Continuing a request by its reference (D-2): the subject's key sealed beside the register, on each engine.

The register and the sealed keys live in Lethe's state database (``LETHE_LEDGER_URL``): here the test's
database on each engine in turn, so that the sealed bytes round-trip through each engine's binary type.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.shop import Shop, open_shop, settings_env

from lethe.errors import SubjectError
from lethe.requests.reference import SUBJECTS_TABLE, forget_subject, recall_subject, remember_subject
from lethe.requests.register import RequestError, get_request, state_engine
from lethe.requests.tracking import register_request
from lethe.settings import Settings, load_settings


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings({**settings_env(tmp_path), "LETHE_LEDGER_URL": db_url})


def test_a_sealed_key_opens_for_its_request_only_and_is_forgotten(settings: Settings) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    remember_subject(settings, first, "subject-key-4711")
    remember_subject(settings, first, "another key")  # the same request keeps its first key
    assert recall_subject(settings, first) == "subject-key-4711"
    engine = state_engine(settings)
    table = sa.Table(SUBJECTS_TABLE, sa.MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        sealed = bytes(connection.execute(sa.select(table.c.sealed)).scalar_one())
        assert b"4711" not in sealed and b"subject-key" not in sealed
        # Copied to another request, the sealed key does not open: the request id is its associated data.
        connection.execute(table.insert().values(request_id=second, sealed=sealed))
    with pytest.raises(RequestError, match="cannot be unsealed"):
        recall_subject(settings, second)
    forget_subject(settings, first)
    with pytest.raises(RequestError, match="cannot be continued by its reference alone"):
        recall_subject(settings, first)


def test_register_request_seals_the_key_and_a_retry_needs_only_the_reference(
    db_url: str, tmp_path: Path
) -> None:
    with open_shop(db_url, tmp_path) as shop:
        email = _email(shop, 3)
        reference = register_request(
            shop.policy, shop.stores, shop.settings, "customer", email, request_type="erasure",
            ledger=shop.ledger, run_id="run-1", flow="erasure",
        )  # fmt: skip
        assert get_request(state_engine(shop.settings), reference).status == "open"
        assert recall_subject(shop.settings, reference) == "3"
        again = register_request(
            shop.policy, shop.stores, shop.settings, "customer", "", request_type="erasure",
            ledger=shop.ledger, run_id="run-2", flow="erasure", request_id=reference,
        )  # fmt: skip
        assert again == reference
        # The same subject by email again continues the open request instead of opening another.
        assert reference == register_request(
            shop.policy, shop.stores, shop.settings, "customer", email, request_type="erasure",
            ledger=shop.ledger, run_id="run-3", flow="erasure",
        )  # fmt: skip
        with pytest.raises(RequestError, match="not a rectification request"):
            register_request(
                shop.policy, shop.stores, shop.settings, "customer", "", request_type="rectification",
                ledger=shop.ledger, run_id="run-4", flow="rectification", request_id=reference,
            )  # fmt: skip
        with pytest.raises(SubjectError) as missing:
            register_request(
                shop.policy, shop.stores, shop.settings, "customer", "nobody@example.invalid",
                request_type="erasure", ledger=shop.ledger, run_id="run-5", flow="erasure",
            )  # fmt: skip
        assert missing.value.request_id is not None
        assert get_request(state_engine(shop.settings), missing.value.request_id).status == "not-found"
        assert "nobody@example.invalid" not in shop.ledger_bytes().decode("utf-8", "replace")


def _email(shop: Shop, key: int) -> str:
    return str(shop.one("SELECT email FROM customers WHERE id = :k", k=key))
