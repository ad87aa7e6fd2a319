"""Rectification (Art. 16) and restriction/objection (Art. 18, 21) on the demo shop, on every engine.

Rectification may only touch the columns the policy opens to it, checks values against the column before
the UPDATE, and records column NAMES and the key's fingerprint, never a value: the ledger's bytes are
searched for the old and new values to prove it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.shop import DEMO, Shop, erase, fingerprint_of, open_shop, rectify, settings_env

from lethe.cli.main import main
from lethe.errors import SubjectError
from lethe.requests import restriction
from lethe.requests.rectification import lift_restriction, restrict_subject
from lethe.requests.register import RequestError
from lethe.requests.subjects import resolve_subject


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


COLUMNS = "email, full_name, phone, postcode, city, iban"


def test_rectification_updates_declared_columns_and_records_no_value(shop: Shop) -> None:
    old = shop.rows(f"SELECT {COLUMNS} FROM customers WHERE id = 4")[0]
    taken = shop.one("SELECT email FROM customers WHERE id = 5")
    others = shop.checksum("customers", "id <> 4")
    new_email, new_phone, new_city = "rectified.person.4@example.net", "+49 30 9876543", "Gelsenkirchen"

    with pytest.raises(RequestError, match="iban may not be rectified"):
        rectify(shop, old[0], {"iban": "DE00", "phone": new_phone})
    with pytest.raises(RequestError, match="postcode has 17 characters; the column holds 16") as long:
        rectify(shop, old[0], {"postcode": "12345678901234567"})
    assert "12345678901234567" not in str(long.value)
    with pytest.raises(RequestError, match="already identifies another customer") as clash:
        rectify(shop, old[0], {"email": taken})
    assert taken not in str(clash.value)
    with pytest.raises(RequestError, match="city cannot be empty"):
        rectify(shop, old[0], {"city": ""})
    with pytest.raises(SubjectError, match="no customer matches"):
        rectify(shop, "nobody@example.org", {"phone": new_phone})
    assert shop.rows(f"SELECT {COLUMNS} FROM customers WHERE id = 4")[0] == old

    result = rectify(shop, old[0], {"email": new_email, "phone": new_phone, "city": new_city})
    assert result.columns == ("city", "email", "phone") and result.rows == 1
    assert shop.rows(f"SELECT {COLUMNS} FROM customers WHERE id = 4")[0] == (
        new_email, old[1], new_phone, old[3], new_city, old[5]
    )  # fmt: skip
    assert shop.checksum("customers", "id <> 4") == others
    assert resolve_subject(shop.policy, shop.stores, "customer", new_email) == 4

    entries = [e.entry for e in shop.entries()]
    assert [(e.flow, e.action, e.outcome) for e in entries] == [
        ("rectification", "rectify", "refused"),
        ("rectification", "rectify", "not-found"),
        ("rectification", "rectify", "completed"),
    ]
    done = entries[-1]
    assert done.details["columns"] == "city,email,phone" and done.fingerprints == (fingerprint_of(shop, 4),)
    assert [(r.type, r.status) for r in shop.register()] == [
        ("rectification", "refused"), ("rectification", "not-found"), ("rectification", "completed")
    ]  # fmt: skip
    data = shop.ledger_bytes()
    for value in (old[0], new_email, old[2], new_phone, old[4], new_city, taken):
        assert value is None or value.encode() not in data, "a value reached the ledger database"


def test_restriction_and_objection_register_and_lift(shop: Shop) -> None:
    email = shop.one("SELECT email FROM customers WHERE id = 6")

    def restrict(**kwargs: Any) -> Any:
        return restrict_subject(
            shop.policy, shop.stores, shop.settings, "customer", email,
            ledger=shop.ledger, run_id=shop.run_id(), **kwargs,
        )  # fmt: skip

    with pytest.raises(RequestError, match="unknown activity"):
        restrict(ground="direct-marketing", activities=["telepathy"], objection=True)
    with pytest.raises(RequestError, match="respects_restriction: false"):
        restrict(ground="legitimate-interests", activities=["security monitoring"], objection=True)
    objection = restrict(ground="direct-marketing", activities=["newsletter"], objection=True)
    restricted = restrict(ground="accuracy-contested")
    assert (objection.kind, objection.entries, restricted.kind) == ("objection", 1, "restriction")

    engine = shop.stores.engine("shop")
    active = restriction.active(engine, subject="customer", subject_key=6)
    assert {(a.kind, a.activity, a.ground) for a in active} == {
        ("objection", "newsletter", "direct-marketing"), ("restriction", None, "accuracy-contested")
    }  # fmt: skip
    with engine.connect() as connection:  # what newsletter processing leaves out: both entries cover it
        excluded = connection.execute(restriction.excluded_keys("customer", "newsletter")).scalars().all()
    assert excluded == ["6", "6"]

    # Erasure still applies to a restricted subject (Art. 18(2): storage is not processing it stops).
    receipt = erase(shop, email)
    assert receipt.verified
    lifted = lift_restriction(
        shop.policy, shop.stores, shop.settings, "customer", "6", ledger=shop.ledger, run_id=shop.run_id()
    )
    assert lifted.entries == 2 and restriction.active(engine, subject="customer", subject_key=6) == []
    assert [(e.entry.action, e.entry.outcome) for e in shop.entries()] == [
        ("objection.add", "completed"), ("restriction.add", "completed"), ("erase", "completed"),
        ("restriction.lift", "completed"),
    ]  # fmt: skip
    assert [(r.type, r.status) for r in shop.register()] == [
        ("objection", "completed"), ("restriction", "completed"), ("erasure", "completed")
    ]  # fmt: skip


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_rectify_and_restrict(shop: Shop, tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
    email = shop.one("SELECT email FROM customers WHERE id = 7")
    runner = CliRunner()

    def run(command: str, *args: str) -> Any:
        return runner.invoke(main, [command, "--policy", str(DEMO), "--subject", email, *args], env=env)

    refused = run("rectify", "--set", "phone=+44 20 1234 5678")
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr
    forbidden = run("rectify", "--set", "iban=DE00", "--yes")
    assert forbidden.exit_code == 2 and "iban may not be rectified" in forbidden.stderr
    done = run("rectify", "--set", "phone=+44 20 1234 5678", "--set", "city=Leeds", "--yes")
    assert done.exit_code == 0 and "rectified city, phone" in done.stdout and "Leeds" not in done.output
    assert shop.rows("SELECT phone, city FROM customers WHERE id = 7") == [("+44 20 1234 5678", "Leeds")]

    objected = run("restrict", "--ground", "direct-marketing", "--activity", "newsletter", "--objection")
    assert objected.exit_code == 0 and "objection registered" in objected.stdout
    no_ground = run("restrict")
    assert no_ground.exit_code == 1 and "--ground is needed" in no_ground.stderr
    lifted = run("unrestrict")
    assert lifted.exit_code == 0 and "lifted 1 restriction" in lifted.stdout
