"""Identifiers that cannot be a key are "not found" (exit 2) and never repeated (issue 9, item 13).

Each hostile identifier goes through the command line (erase, rectify, export, restrict) on every engine:
the exit code is 2, there is no traceback, nothing changes, and the identifier appears nowhere: not in the
output, not in the exception, not in the ledger or the request register.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.shop import DEMO, Shop, open_shop, settings_env

from lethe.cli.main import main
from lethe.errors import SubjectNotFoundError
from lethe.requests.lookup import column_value, integer_bounds
from lethe.requests.register import state_engine
from lethe.requests.subjects import resolve_subject

HOSTILE = [
    "²",  # a digit to str.isdigit(), not to int()
    "١٢٣",  # Arabic-Indic digits: int() reads them, no database does
    "99999999999999999999",  # beyond BIGINT
    "-99999999999999999999",
    "9223372036854775808",  # BIGINT's maximum + 1
    "2147483648",  # INTEGER's maximum + 1 (the demo's key; SQLite's INTEGER holds it: nobody has it)
    "nul\x00byte@example.org",
    "x" * 300 + "@example.org",  # longer than the email column
    "\udcff\udcfe-undecodable",  # bytes of a command line that are not UTF-8
    "' OR '1'='1",
    "🦄-unicorn@example.org",
]
BLANK = ["", "   "]  # not searchable in the output, but also not found
COMMANDS = {
    "erase": ["--yes"],
    "rectify": ["--set", "city=Leeds", "--yes"],
    "export": ["--out", "{out}"],
    "restrict": ["--ground", "accuracy-contested"],
}


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


def stored_text(shop: Shop) -> str:
    """Every value of every row of the state database's tables (ledger, head, register), as text."""
    engine = state_engine(shop.settings)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            rows = [row for name in tables for row in connection.exec_driver_sql(f"SELECT * FROM {name}")]
    finally:
        engine.dispose()
    return "\n".join(str(value) for row in rows for value in row)


def encoded(identifier: str) -> bytes:
    return identifier.encode("utf-8", "surrogatepass")


def test_hostile_identifiers_are_not_found_and_never_repeated(shop: Shop, tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
    runner = CliRunner()
    before = shop.snapshot()
    for identifier in HOSTILE + BLANK:
        for command, extra in COMMANDS.items():
            args = [a.replace("{out}", str(tmp_path / "out")) for a in extra]
            result = runner.invoke(
                main, [command, "--policy", str(DEMO), "--subject", identifier, *args], env=env
            )
            where = f"{command} {identifier!r}"
            assert result.exit_code == 2, f"{where}: {result.output}"
            assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), where
            if identifier.strip():
                assert identifier not in result.output, where
                assert identifier.removesuffix("@example.org") not in result.output, where
    assert shop.snapshot() == before
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    data, text = shop.ledger_bytes(), stored_text(shop)
    for identifier in HOSTILE:
        assert identifier not in text, identifier
        # The raw file too, but only for identifiers long enough not to occur by chance in binary pages.
        assert len(encoded(identifier)) < 4 or encoded(identifier) not in data, identifier
    # Every attempt that reached a lookup is recorded as not found, in the ledger and the register.
    outcomes = {e.entry.outcome for e in shop.entries()}
    assert outcomes == {"not-found"}
    assert {(r.status, r.outcome) for r in shop.register()} == {("not-found", "no such subject")}


def test_resolution_refuses_what_no_column_can_hold(shop: Shop) -> None:
    for identifier in HOSTILE + BLANK:
        with pytest.raises(SubjectNotFoundError) as missing:
            resolve_subject(shop.policy, shop.stores, "customer", identifier, settings=shop.settings)
        assert identifier.strip() == "" or identifier not in str(missing.value)
    assert resolve_subject(shop.policy, shop.stores, "customer", " 7 ") == 7  # spaces around a key are fine


def test_integer_bounds_follow_the_column_type() -> None:
    from sqlalchemy.dialects import mysql

    assert integer_bounds(sa.Integer(), "postgresql") == (-(2**31), 2**31 - 1)
    assert integer_bounds(sa.Integer(), "sqlite") == (-(2**63), 2**63 - 1)
    assert integer_bounds(sa.BigInteger(), "postgresql") == (-(2**63), 2**63 - 1)
    assert integer_bounds(sa.SmallInteger(), "mysql") == (-(2**15), 2**15 - 1)
    assert integer_bounds(mysql.INTEGER(unsigned=True), "mysql") == (0, 2**32 - 1)
    assert integer_bounds(mysql.TINYINT(), "mysql") == (-128, 127)
    key = sa.Column("id", sa.Integer)
    assert [column_value(key, text, "postgresql") for text in ("+12", "-3", "2147483647", "2147483648")] == [
        12,
        -3,
        2**31 - 1,
        None,
    ]
    assert column_value(sa.Column("email", sa.String(5)), "abcdef", "mysql") is None
