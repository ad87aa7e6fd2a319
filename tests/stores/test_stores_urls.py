"""Store URLs: an unsupported scheme is a policy error (exit 2); a SQLite store that does not exist is refused
by every command (exit 3) and nothing is created; only ``lethe demo`` creates a database. Lethe's own files
(the ledger and the state database) are created when missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.shop import DEMO, full_customer, open_shop, settings_env

from lethe.cli.main import main
from lethe.errors import PolicyError, SettingsError, StoreError
from lethe.policy.loading import parse_policy
from lethe.stores.engines import Stores, create_store_engine

PASSWORD = "s3cret-pw"
STORE_ONLY = "version: 1\ncontroller:\n  name: Test Ltd\nstores:\n  shop:\n    url: ${SHOP_URL}\n"


def run(args: list[str], env: dict[str, str]) -> Result:
    """``lethe ARGS`` under ``env``, as a user runs it (errors become messages and exit codes)."""
    return CliRunner().invoke(main, args, env=env)


# ------------------------------------------------------------------------------------ unsupported schemes


@pytest.mark.parametrize("scheme", ["oracle", "mssql+pyodbc", "nosuchdb"])
def test_an_unsupported_scheme_is_a_policy_error_naming_the_store(scheme: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(
            STORE_ONLY, source="p.yaml", environ={"SHOP_URL": f"{scheme}://lethe:{PASSWORD}@db/shop"}
        )
    message = str(caught.value)
    assert message.startswith("p.yaml:6: stores.shop.url: unsupported database"), message
    assert f"{scheme.split('+')[0]!r}" in message
    for supported in ("sqlite:///", "postgresql+psycopg://", "mysql+pymysql://", "mariadb+pymysql://"):
        assert supported in message
    assert PASSWORD not in message


def test_a_url_that_is_not_a_url_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match=r"stores\.shop\.url: not a database URL") as caught:
        parse_policy(STORE_ONLY, source="p.yaml", environ={"SHOP_URL": f"lethe:{PASSWORD}@db/shop"})
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("command", [["validate"], ["retention", "plan"], ["dpia", "--out", "dpia"]])
def test_cli_refuses_an_unsupported_scheme_with_exit_2(tmp_path: Path, command: list[str]) -> None:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": f"oracle://lethe:{PASSWORD}@db.example/shop"}
    result = run([*command, str(DEMO)], env)
    assert result.exit_code == 2, result.output
    assert "stores.shop.url: unsupported database 'oracle'" in result.stderr
    assert "Traceback" not in result.output and PASSWORD not in result.output


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 is installed here")
def test_a_driver_that_is_not_installed_is_exit_2(tmp_path: Path) -> None:
    url = f"postgresql+psycopg2://lethe:{PASSWORD}@127.0.0.1:1/shop"
    with pytest.raises(SettingsError, match="driver psycopg2 is not installed") as caught:
        create_store_engine(url)
    assert PASSWORD not in str(caught.value)
    result = run(["validate", str(DEMO)], {**settings_env(tmp_path), "LETHE_DEMO_URL": url})
    assert result.exit_code == 2, result.output
    assert "store shop: cannot use database URL" in result.output and PASSWORD not in result.output


# ------------------------------------------------------------------------------ missing SQLite databases


def test_stores_refuse_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "shop.db"
    policy = parse_policy(STORE_ONLY, source="p.yaml", environ={"SHOP_URL": f"sqlite:///{missing}"})
    with Stores(policy) as stores, pytest.raises(StoreError) as caught:
        stores.ping("shop")
    assert str(caught.value) == f"store shop: no such database file {missing} (only `lethe demo` creates one)"
    assert caught.value.exit_code == 3
    assert not (tmp_path / "no").exists()


def test_create_store_engine_refuses_a_missing_file_unless_asked_to_create(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "shop.db"
    with pytest.raises(StoreError, match="no such database file"):
        create_store_engine(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()
    create_store_engine(f"sqlite:///{missing}").dispose()  # the demo and tests create their databases
    assert missing.parent.is_dir()


def _commands(policy: str, out: Path) -> dict[str, list[str]]:
    """Every command that opens the policy's stores, with the arguments it needs."""
    subject = ["--policy", policy, "--subject", "someone@example.org"]
    return {
        "validate": ["validate", policy],
        "retention plan": ["retention", "plan", policy],
        "retention enforce": ["retention", "enforce", policy, "--yes"],
        "export": ["export", *subject, "--out", str(out)],
        "erase": ["erase", *subject, "--yes"],
        "erase dry run": ["erase", *subject, "--dry-run"],
        "rectify": ["rectify", *subject, "--set", "email=new@example.org", "--yes"],
        "restrict": ["restrict", *subject, "--ground", "accuracy-contested"],
        "unrestrict": ["unrestrict", *subject],
        "dpia": ["dpia", policy, "--out", str(out)],
    }


@pytest.mark.parametrize("name", list(_commands("", Path())))
def test_every_command_refuses_a_missing_sqlite_store_and_creates_nothing(tmp_path: Path, name: str) -> None:
    missing_dir = tmp_path / "missing" / "dir"
    env = {
        **settings_env(tmp_path),
        "LETHE_HOME": str(tmp_path / "home"),
        "LETHE_DEMO_URL": f"sqlite:///{missing_dir}/shop.db",
    }
    result = run(_commands(str(DEMO), tmp_path / "out")[name], env)
    assert result.exit_code == 3, result.output
    assert f"no such database file {missing_dir}/shop.db" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()


def test_ropa_does_not_open_the_stores(tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": f"sqlite:///{tmp_path}/missing/shop.db"}
    result = run(["ropa", str(DEMO), "--out", str(tmp_path / "ropa.md")], env)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "missing").exists()


# --------------------------------------------------------------------------- Lethe's own files are created


def test_the_ledger_and_state_database_are_created_where_missing(tmp_path: Path) -> None:
    ledger = tmp_path / "state" / "new" / "ledger.db"
    with open_shop(f"sqlite:///{tmp_path}/shop.db", tmp_path) as shop:
        env = {
            **settings_env(tmp_path),
            "LETHE_LEDGER_URL": f"sqlite:///{ledger}",
            "LETHE_DEMO_URL": shop.url,
        }
        email = shop.one("SELECT email FROM customers WHERE id = :c", c=full_customer(shop))
        erased = run(["erase", "--policy", str(DEMO), "--subject", email, "--yes"], env)
        assert erased.exit_code == 0, erased.output
    assert ledger.is_file()
    listing = run(["requests", "--json"], {**env, "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/other/l.db"})
    assert listing.exit_code == 0, listing.output
    assert (tmp_path / "other" / "l.db").is_file()


def test_an_unsupported_ledger_url_is_exit_2(tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "LETHE_LEDGER_URL": f"oracle://lethe:{PASSWORD}@db.example/ledger"}
    result = run(["requests"], env)
    assert result.exit_code == 2, result.output
    assert (
        "LETHE_LEDGER_URL is not usable" in result.stderr and "unsupported database 'oracle'" in result.stderr
    )
    assert PASSWORD not in result.output
