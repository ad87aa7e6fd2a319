"""Erasure handles every column the data map declares personal: deleted with its row, rewritten by an
operator, or kept with a stated legal ground. ``lethe validate`` reports the rest (exit 2) and erasure
refuses such a policy before changing anything. After erasing a demo subject, no declared personal column
of the subject's remaining rows holds an original value, except in rows or columns kept with a ground.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.shop import DEMO, Shop, erase, full_customer, open_shop, settings_env

from lethe.cli.main import main
from lethe.errors import PolicyError, SchemaMismatchError
from lethe.policy.loading import parse_policy
from lethe.requests.erasure.plan import ErasureSetup, prepare_erasure, subject_predicates
from lethe.validation.policy import validate_policy

CODE = "erasure-personal-left"
# The demo's erasure block as it was: the account is pseudonymised but keeps its city and last login.
CITY_AND_LOGIN = re.compile(r"^            (city|last_login_at): \{operator.*\n", re.MULTILINE)
ACCOUNT_REASON = re.compile(r"^          reason: \"orders and their lines.*\n", re.MULTILINE)
GROUND = "fraud investigation: last login kept 1 year (Art. 17(3)(e))"


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


def _without_city_and_login() -> str:
    text, removed = CITY_AND_LOGIN.subn("", DEMO.read_text(), count=2)
    assert removed == 2
    return text


def _with_account_keep(text: str, keep: str) -> str:
    """``text`` with ``keep:`` (YAML flow mapping) added to the erasure of the demo's account."""
    return ACCOUNT_REASON.sub(lambda m: f"{m.group(0)}          keep: {keep}\n", text, count=1)


def _errors(shop: Shop) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in validate_policy(shop.policy, shop.stores):
        if f.severity == "error":
            found.setdefault(f.code, []).append(f"{f.where}: {f.message}")
    return found


def test_the_demo_policy_handles_every_declared_personal_column(shop: Shop) -> None:
    assert _errors(shop) == {}


def test_unhandled_personal_columns_are_reported_and_erasure_refuses(shop: Shop, tmp_path: Path) -> None:
    with open_shop(shop.url, tmp_path, policy_text=_without_city_and_login(), seeded=False) as partial:
        errors = _errors(partial)
        assert list(errors) == [CODE]
        (message,) = errors[CODE]
        assert message.startswith("subjects.customer.erasure.tables.shop.customers: ")
        assert "city, last_login_at" in message and "`keep:`" in message
        before = partial.snapshot()
        with pytest.raises(SchemaMismatchError, match="leaves declared personal column"):
            prepare_erasure(partial.policy, partial.stores, partial.settings, "customer")
        email = partial.one("SELECT email FROM customers WHERE id = :c", c=full_customer(partial))
        with pytest.raises(SchemaMismatchError, match="leaves declared personal column"):
            erase(partial, email)
        assert partial.snapshot() == before
        assert partial.entries() == []  # refused before anything, the ledger included


def test_a_column_kept_with_a_ground_is_handled(shop: Shop, tmp_path: Path) -> None:
    text = _with_account_keep(DEMO.read_text(), f'{{last_login_at: "{GROUND}"}}')
    text = re.sub(r"^            last_login_at: .*\n", "", text, count=1, flags=re.MULTILINE)
    with open_shop(shop.url, tmp_path, policy_text=text, seeded=False) as grounded:
        assert _errors(grounded) == {}
        cid = full_customer(grounded)
        email, login = grounded.rows("SELECT email, last_login_at FROM customers WHERE id = :c", c=cid)[0]
        receipt = erase(grounded, email)
        assert grounded.one("SELECT last_login_at FROM customers WHERE id = :c", c=cid) == login
        (account,) = [t for t in receipt.tables if t.table == "shop.customers"]
        assert account.reason is not None and f"last_login_at ({GROUND})" in account.reason


# ------------------------------------------------------------------------------- after a real erasure


def _subject_rows(
    shop: Shop, setup: ErasureSetup, key: Any
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Per table of the subject graph, its rows of the subject by primary key, as column -> value."""
    rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for store in setup.store_order():
        with setup.stores.engine(store).connect() as connection:
            predicates = subject_predicates(connection, setup, store, key)
            for item in setup.in_store(store):
                found = connection.execute(sa.select(item.table).where(predicates[item.name])).mappings()
                rows[item.name] = {tuple(r[c.name] for c in item.key): dict(r) for r in found}
    return rows


def test_no_declared_personal_value_survives_an_erasure(shop: Shop) -> None:
    policy = shop.policy
    setup = prepare_erasure(policy, shop.stores, shop.settings, "customer")
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    shop.execute("UPDATE customers SET last_login_at = created_at WHERE id = :c", c=cid)  # a login to erase
    before = _subject_rows(shop, setup, cid)
    assert sum(map(len, before.values())) > 10

    receipt = erase(shop, email)
    assert receipt.outcome == "completed" and receipt.verified

    after = _subject_rows(shop, setup, cid)
    checked = 0
    for item in setup.tables:
        table_map = policy.table_map(item.entry.ref)
        personal = list(table_map.columns) if table_map is not None else []
        if item.action == "delete":
            assert after[item.name] == {}, item.name
        elif item.action == "anonymise":
            assert after[item.name].keys() == before[item.name].keys()
            for key, row in before[item.name].items():
                for column in personal:
                    if row[column] is not None:
                        assert after[item.name][key][column] != row[column], f"{item.name}.{column}"
                        checked += 1
        else:  # kept with a legal ground: its personal columns as they were (links may be detached)
            assert item.reason
            assert after[item.name].keys() == before[item.name].keys()
            for key, row in before[item.name].items():
                assert {c: after[item.name][key][c] for c in personal} == {c: row[c] for c in personal}
    assert checked >= 8  # every declared column of the account that held a value


# ------------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ('{action: keep, reason: r, keep: {total: "ground"}}', "takes no `keep:`"),
        ('{action: delete, keep: {total: "ground"}}', "takes no `keep:`"),
        (
            '{action: anonymise, reason: r, columns: {total: {operator: "null"}}, keep: {total: "g"}}',
            "both rewritten and kept: total",
        ),
        (
            '{action: anonymise, reason: r, columns: {status: {operator: "null"}}, keep: {total: ""}}',
            "ground",
        ),
    ],
)
def test_keep_grounds_are_checked_at_load(action: str, message: str) -> None:
    text = DEMO.read_text().replace(
        'shop.orders: {action: keep, reason: "tax law: 7 years (Art. 17(3)(b))"}', f"shop.orders: {action}"
    )
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, source="demo.yaml", environ={})


def test_keep_names_existing_columns(shop: Shop, tmp_path: Path) -> None:
    text = _with_account_keep(DEMO.read_text(), '{nickname: "a ground"}')
    with open_shop(shop.url, tmp_path, policy_text=text, seeded=False) as odd:
        assert "missing-column" in _errors(odd)


# --------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_validate_and_erase_exit_2_on_unhandled_personal_columns(shop: Shop, tmp_path: Path) -> None:
    policy = tmp_path / "partial.yaml"
    policy.write_text(_without_city_and_login())
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
    runner = CliRunner()
    for strict in ([], ["--strict"]):
        checked = runner.invoke(main, ["validate", str(policy), "--no-coverage", *strict], env=env)
        assert checked.exit_code == 2, checked.output
        assert CODE in checked.stdout and "city, last_login_at" in checked.stdout
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=full_customer(shop))
    before = shop.snapshot()
    erased = runner.invoke(main, ["erase", "--policy", str(policy), "--subject", email, "--yes"], env=env)
    assert erased.exit_code == 2, erased.output
    assert "leaves declared personal column" in erased.stderr and "Traceback" not in erased.output
    assert email not in erased.output
    assert shop.snapshot() == before
    good = runner.invoke(main, ["validate", str(DEMO), "--no-coverage"], env=env)
    assert good.exit_code == 0, good.output


def test_erasure_refuses_a_declared_table_it_cannot_reach(shop: Shop, tmp_path: Path) -> None:
    shop.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, customer_id INTEGER, note VARCHAR(200))")
    text = DEMO.read_text().replace(
        "data_map:\n",
        "data_map:\n  shop.notes:\n    subject: customer\n    columns: {note: {category: user.content}}\n",
    )
    with open_shop(shop.url, tmp_path, policy_text=text, seeded=False) as notes:
        assert list(_errors(notes)) == ["subject-unreachable"]
        with pytest.raises(
            SchemaMismatchError, match=r"data_map\.shop\.notes: .*erasure would leave its rows"
        ):
            prepare_erasure(notes.policy, notes.stores, notes.settings, "customer")
