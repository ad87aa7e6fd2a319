"""``where:`` values are read as their live column's type, on SQLite, PostgreSQL and MariaDB.

A value that does not fit its column (``closed_at: not-a-date``) is reported by ``lethe validate`` and
refused by ``retention plan`` and ``enforce`` before any data is touched (exit 2, naming the rule, the column
and the expected type, quoting at most a short prefix of the value), where it used to pass validation and
then fail mid-run as "store unreachable" (exit 3). Values that fit select exactly their rows, dates and
timestamps included (SQLite could not bind a date string at all).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from support.retention import (
    close_run,
    make_policy,
    make_settings,
    open_run,
    policy_text,
    settings_env,
    snapshot,
)

from lethe.cli.main import main
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun

AS_OF = datetime(2026, 6, 15, tzinfo=UTC)
ROWS = [
    (1, datetime(2010, 1, 1), date(2010, 1, 1), "open", 5, True, Decimal("1.50")),
    (2, datetime(2011, 6, 1, 12, 30), date(2011, 6, 1), "2026", 7, False, Decimal("2.25")),
    (3, datetime(2012, 3, 3), date(2012, 3, 3), "closed", 5, False, Decimal("1.50")),
]


def rule(where: str) -> str:
    """YAML of a delete rule on ``tickets`` with the given ``where`` mapping."""
    return f"- name: r\n  table: db.tickets\n  after: 1 year\n  since: closed_at\n  action: delete\n  where: {where}\n"


@pytest.fixture
def tickets(db_engine: sa.Engine) -> sa.Engine:
    """Three expired tickets with a column of each kind a condition can test."""
    table = sa.Table(
        "tickets",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("flag", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    )
    table.create(db_engine)
    names = [c.name for c in table.columns]
    with db_engine.begin() as connection:
        connection.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in ROWS])
    return db_engine


@pytest.fixture
def run_for(db_url: str, tmp_path: Path) -> Iterator[Callable[[str], RetentionRun]]:
    """``run_for(where)``: a run over the one-rule policy; closed after the test."""
    opened: list[RetentionRun] = []

    def factory(where: str) -> RetentionRun:
        run = open_run(make_policy(db_url, rule(where)), make_settings(tmp_path), AS_OF)
        opened.append(run)
        return run

    yield factory
    for run in opened:
        close_run(run)


VALID = {
    "timestamp": ("{closed_at: '2011-06-01T12:30:00'}", [2]),
    "timestamp-with-zone": ("{closed_at: '2011-06-01T14:30:00+02:00'}", [2]),
    "yaml-date-on-a-timestamp": ("{closed_at: {not_equals: 2010-01-01}}", [2, 3]),
    "dates-in": ("{day: {in: ['2010-01-01', 2012-03-03]}}", [1, 3]),
    "date-not-in": ("{day: {not_in: [2010-01-01]}}", [2, 3]),
    "integer-as-text": ("{n: '5'}", [1, 3]),
    "boolean-as-1": ("{flag: 1}", [1]),
    "number": ("{amount: 1.5}", [1, 3]),
    "number-as-text": ("{amount: '2.25'}", [2]),
    "text-read-as-a-number-by-yaml": ("{status: 2026}", [2]),
}


@pytest.mark.parametrize("case", list(VALID))
def test_values_that_fit_select_exactly_their_rows(
    tickets: sa.Engine, run_for: Callable[[str], RetentionRun], case: str
) -> None:
    where, expected = VALID[case]
    run = run_for(where)
    plan = plan_rule(run, run.policy.rule("r"), sample=10)
    assert sorted(k[0] for k in plan.sample_keys) == expected


BAD = {
    "not-a-date": ("{closed_at: not-a-date}", "closed_at", "equals 'not-a-date'", "a date or timestamp"),
    "timestamp-on-a-date": ("{day: '2026-01-31T09:00:00'}", "day", "equals", "a date (YYYY-MM-DD)"),
    "word-on-an-integer": ("{n: {in: [1, many]}}", "n", "in[1] 'many'", "an integer"),
    "word-on-a-boolean": ("{flag: maybe}", "flag", "equals 'maybe'", "true or false"),
    "word-on-a-number": ("{amount: {not_equals: lots}}", "amount", "not_equals 'lots'", "a number"),
    "yaml-date-on-text": ("{status: {not_in: [open, 2026-01-01]}}", "status", "not_in[1] date", "text"),
    "yaml-boolean-on-text": ("{status: yes}", "status", "equals bool", "text"),
    "year-out-of-range": ("{day: '0001-01-01'}", "day", "equals '0001-01-01'", "a date"),
}


def lethe(db_url: str, tmp_path: Path, *args: str) -> Result:
    """Run ``lethe ARGS`` against the test's store and keys."""
    return CliRunner().invoke(main, list(args), env={"DB_URL": db_url, **settings_env(tmp_path)})


@pytest.mark.parametrize("case", list(BAD))
def test_values_that_do_not_fit_are_refused_before_any_change(
    db_url: str, tickets: sa.Engine, tmp_path: Path, case: str
) -> None:
    where, column, what, expected = BAD[case]
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(rule(where)), encoding="utf-8")
    before = snapshot(tickets)

    validated = lethe(db_url, tmp_path, "validate", str(policy), "--json")
    assert validated.exit_code == 2, validated.output
    findings = [f for f in json.loads(validated.stdout)["findings"] if f["severity"] == "error"]
    assert [(f["code"], f["where"]) for f in findings] == [
        ("where-value-type", f"retention.r.where.{column}")
    ]
    assert what in findings[0]["message"] and f"expected {expected}" in findings[0]["message"]

    for command in (["plan"], ["enforce", "--yes", "--allow-large-share"]):
        refused = lethe(db_url, tmp_path, "retention", *command, str(policy))
        assert refused.exit_code == 2, refused.output
        assert f"retention.r.where.{column}" in refused.stderr and f"expected {expected}" in refused.stderr
        assert "Traceback" not in refused.output
    assert snapshot(tickets) == before


def test_a_long_value_is_quoted_by_a_short_prefix_only(
    db_url: str, tickets: sa.Engine, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(rule("{closed_at: '" + "2026-01-01 secret-" * 40 + "'}")), encoding="utf-8")
    result = lethe(db_url, tmp_path, "retention", "plan", str(policy))
    assert result.exit_code == 2 and "expected a date or timestamp" in result.stderr
    assert "secret-2026" not in result.stderr and len(result.stderr) < 400
