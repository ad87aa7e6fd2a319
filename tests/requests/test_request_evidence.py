"""Requests refuse before changing anything when the ledger cannot be written, on every engine.

``lethe erase``, ``rectify`` and ``restrict`` are run from the command line against the demo shop with a wrong
ledger key (exit 4) and while another connection holds the ledger's write lock beyond its lock timeout
(exit 3). Each time the subject's data, the restriction register, the journal and the request register must
be exactly as before. For the lock, the ledger lives in the test's database (PostgreSQL and MariaDB lock the
ledger's head row, so the register beside it stays writable) with a short lock timeout in its URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url
from support.retention import journal_rows
from support.shop import DEMO, Shop, open_shop, settings_env

from lethe.cli.main import main
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.requests.rectification import restrict_subject
from lethe.requests.register import REGISTER_TABLE as REQUESTS_TABLE
from lethe.requests.restriction import REGISTER_TABLE
from lethe.settings import load_settings

COMMANDS = {
    "erase": ["erase", "--yes"],
    "rectify": ["rectify", "--yes", "--set", "phone=+44 20 7946 0000"],
    "restrict": ["restrict", "--ground", "accuracy-contested"],
    "unrestrict": ["unrestrict"],  # of a subject restricted before: the restriction must stay
}
LOCK_TIMEOUT = {  # the ledger's lock timeout, as each engine takes it in the URL
    "sqlite": {"timeout": "0.3"},
    "postgresql": {"options": "-c lock_timeout=300"},
    "mariadb": {"init_command": "SET innodb_lock_wait_timeout=1"},
}


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


def state(shop: Shop) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    has_register = sa.inspect(shop.engine).has_table(REGISTER_TABLE)
    return {
        "data": shop.snapshot(),
        "restrictions": shop.rows(f"SELECT * FROM {REGISTER_TABLE}") if has_register else [],
        "journal": journal_rows(shop.engine),
    }


def record_setup(ledger: Ledger) -> None:
    """One entry, so the ledger has a head row under the right key."""
    now = datetime.now(UTC)
    ledger.append(LedgerEntry("setup", "test", "0" * 64, "setup", "completed", now, now))


def customer_to_change(shop: Shop, command: str) -> str:
    """The email of the customer the command will try to change (restricted first for ``unrestrict``)."""
    email = str(shop.one("SELECT email FROM customers WHERE id = 12"))
    if command == "unrestrict":
        restrict_subject(
            shop.policy, shop.stores, shop.settings, "customer", email, ground="legal-claims",
            ledger=shop.ledger, run_id="setup",
        )  # fmt: skip
    return email


def invoke(command: str, email: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, [*COMMANDS[command], "--policy", str(DEMO), "--subject", email], env=env)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_wrong_ledger_key_refuses_before_anything_changes(shop: Shop, tmp_path: Path, command: str) -> None:
    record_setup(shop.ledger)
    email = customer_to_change(shop, command)
    before, requests, entries = state(shop), shop.register(), shop.entries()
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url, "LETHE_LEDGER_KEY": "ef" * 32}

    result = invoke(command, email, env)

    assert result.exit_code == 4, result.output
    assert "head MAC invalid" in result.stderr and "Traceback" not in result.output
    assert state(shop) == before and shop.register() == requests and shop.entries() == entries


@contextmanager
def ledger_write_lock(url: str) -> Iterator[None]:
    """Hold the ledger's write lock from another connection, as an appender does, for the block."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("SELECT seq FROM lethe_ledger_head WHERE id = 1 FOR UPDATE")
            yield
            connection.exec_driver_sql(
                "ROLLBACK"
            ) if engine.dialect.name == "sqlite" else connection.rollback()
    finally:
        engine.dispose()


def register_rows(url: str) -> list[Any]:
    """The rows of the request register in the state database at ``url`` (none when it was never created)."""
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(REQUESTS_TABLE):
            return []
        with engine.connect() as connection:
            return list(connection.execute(sa.text(f"SELECT * FROM {REQUESTS_TABLE}")))
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_ledger_locked_beyond_its_timeout_refuses_before_anything_changes(
    shop: Shop, tmp_path: Path, db_engine: sa.Engine, command: str
) -> None:
    engine_name = "mariadb" if db_engine.dialect.name in ("mysql", "mariadb") else db_engine.dialect.name
    base = make_url(f"sqlite:///{tmp_path}/locked-ledger.db" if engine_name == "sqlite" else shop.url)
    ledger_url = base.update_query_dict(LOCK_TIMEOUT[engine_name]).render_as_string(hide_password=False)
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url, "LETHE_LEDGER_URL": ledger_url}
    settings = load_settings(env)
    ledger = Ledger.from_settings(settings)
    try:
        record_setup(ledger)
    finally:
        ledger._engine.dispose()
    email = customer_to_change(shop, command)
    before = state(shop)

    with ledger_write_lock(ledger_url):
        result = invoke(command, email, env)
        requests = register_rows(ledger_url)  # read while locked: SQLite's readers are not blocked

    assert result.exit_code == 3, result.output
    assert state(shop) == before and requests == []
    assert "cannot be written now" in result.stderr and "lock timeout" in result.stderr
    assert "Traceback" not in result.output
    ledger = Ledger.from_settings(settings)
    try:
        assert [e.entry.action for e in ledger.entries()] == ["setup"]
    finally:
        ledger._engine.dispose()
