"""Retention's guards at the command line, on SQLite, PostgreSQL and MariaDB: refused means exit 2, nothing changed.

* An ``--as-of`` later than now (beyond a few minutes of clock skew) would expire rows whose period has not
  ended (``--as-of 2099-01-01`` emptied a 7-year table): refused without ``--allow-future``.
* A rule that would change more than its share of its table (default 50%, ``max_share`` per rule, or
  ``--max-share``) is refused without ``--allow-large-share``; ``retention plan`` shows the share.

The store is a small shop seeded relative to the real clock, since the CLI judges at "now" by default.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from support.retention import (
    count,
    ledger_entries,
    make_settings,
    policy_text,
    seed_shop,
    settings_env,
    snapshot,
)

from lethe.cli.main import main

ORDERS_3Y = """
- name: old-orders
  table: db.orders
  after: 3 years
  since: created_at
  action: delete
{extra}"""


@pytest.fixture
def shop(db_engine: sa.Engine) -> sa.Engine:
    """6 customers ten years old and 4 a day old, two orders each: 60% of the orders are expired now."""
    seed_shop(db_engine, old=6, recent=4, as_of=datetime.now(UTC))
    return db_engine


def write_policy(tmp_path: Path, extra: str = "") -> Path:
    """The one-rule policy (``extra``: more YAML lines of the rule) in a file."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(ORDERS_3Y.format(extra=extra)), encoding="utf-8")
    return path


def lethe(tmp_path: Path, db_url: str, *args: str) -> Result:
    """Run ``lethe ARGS`` with the test's store and keys."""
    env = {"DB_URL": db_url, **settings_env(tmp_path)}
    return CliRunner().invoke(main, list(args), env=env)


def enforce(tmp_path: Path, db_url: str, policy: Path, *flags: str) -> Result:
    """``lethe retention enforce POLICY --yes FLAGS``."""
    return lethe(tmp_path, db_url, "retention", "enforce", str(policy), "--yes", *flags)


def test_a_future_as_of_is_refused_before_anything_changes(
    db_url: str, shop: sa.Engine, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    before = snapshot(shop)
    refused = enforce(tmp_path, db_url, policy, "--as-of", "2099-01-01", "--allow-large-share")
    assert refused.exit_code == 2, refused.output
    assert "is in the future" in refused.stderr and "--allow-future" in refused.stderr
    assert "Traceback" not in refused.output
    assert snapshot(shop) == before
    assert ledger_entries(make_settings(tmp_path)) == []
    planned = lethe(tmp_path, db_url, "retention", "plan", str(policy), "--as-of", "2099-01-01")
    assert planned.exit_code == 2 and "--allow-future" in planned.stderr


def test_the_future_is_allowed_with_the_flag_and_then_meets_the_share_guard(
    db_url: str, shop: sa.Engine, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    before = snapshot(shop)
    # At 2099 every order is expired: 100% of the table, far above the default 50%.
    guarded = enforce(tmp_path, db_url, policy, "--as-of", "2099-01-01", "--allow-future")
    assert guarded.exit_code == 2, guarded.output
    assert "retention.old-orders would change 100.0% of db.orders (20 of 20 rows)" in guarded.stderr
    assert "--allow-large-share" in guarded.stderr
    assert snapshot(shop) == before
    both = enforce(tmp_path, db_url, policy, "--as-of", "2099-01-01", "--allow-future", "--allow-large-share")
    assert both.exit_code == 0, both.output
    assert count(shop, "orders") == 0


def test_an_as_of_a_few_minutes_ahead_is_clock_skew_not_the_future(
    db_url: str, shop: sa.Engine, tmp_path: Path
) -> None:
    soon = datetime.now(UTC).replace(microsecond=0)
    result = lethe(
        tmp_path, db_url, "retention", "plan", str(write_policy(tmp_path)), "--as-of", soon.isoformat()
    )
    assert result.exit_code == 0, result.output


def test_a_rule_over_its_share_is_refused_and_plan_shows_the_share(
    db_url: str, shop: sa.Engine, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    plan = lethe(tmp_path, db_url, "retention", "plan", str(policy), "--json")
    assert plan.exit_code == 0, plan.output
    (rule,) = json.loads(plan.stdout)["rules"]
    assert (rule["pending"], rule["rows"], rule["share"], rule["max_share"]) == (12, 20, 0.6, 0.5)
    shown = lethe(tmp_path, db_url, "retention", "plan", str(policy))
    assert "60.0%!" in shown.stdout and "enforce refuses it without --allow-large-share" in shown.stdout

    before = snapshot(shop)
    refused = enforce(tmp_path, db_url, policy)
    assert refused.exit_code == 2, refused.output
    assert "retention.old-orders would change 60.0% of db.orders (12 of 20 rows)" in refused.stderr
    assert "more than its limit of 50%" in refused.stderr and "--allow-large-share" in refused.stderr
    assert snapshot(shop) == before
    assert ledger_entries(make_settings(tmp_path)) == []  # refused before the plan is recorded


@pytest.mark.parametrize(
    ("extra", "flags"),
    [
        pytest.param("", ["--allow-large-share"], id="flag"),
        pytest.param("", ["--max-share", "70%"], id="cli-limit"),
        pytest.param("  max_share: 0.7\n", [], id="policy-limit"),
    ],
)
def test_a_large_share_is_applied_when_allowed(
    db_url: str, shop: sa.Engine, tmp_path: Path, extra: str, flags: list[str]
) -> None:
    applied = enforce(tmp_path, db_url, write_policy(tmp_path, extra), *flags)
    assert applied.exit_code == 0, applied.output
    assert count(shop, "orders") == 8


def test_the_cli_limit_overrides_the_policys(db_url: str, shop: sa.Engine, tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "  max_share: 0.7\n")
    refused = enforce(tmp_path, db_url, policy, "--max-share", "0.25")
    assert refused.exit_code == 2 and "more than its limit of 25%" in refused.stderr
    assert count(shop, "orders") == 20


@pytest.mark.parametrize("value", ["0", "150%", "half", "nan"])
def test_a_malformed_share_is_a_parameter_error(tmp_path: Path, value: str) -> None:
    db_url = f"sqlite:///{tmp_path}/unused.db"
    result = lethe(tmp_path, db_url, "retention", "plan", str(write_policy(tmp_path)), "--max-share", value)
    assert result.exit_code == 2 and "--max-share" in result.output
    policy = write_policy(tmp_path, f"  max_share: '{value}'\n")
    loaded = lethe(tmp_path, db_url, "validate", str(policy))
    assert loaded.exit_code == 2 and "max_share" in loaded.stderr
    assert not (tmp_path / "unused.db").exists()  # refused before any store is opened
