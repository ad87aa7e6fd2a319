"""Retention per controller (processor mode) on SQLite, PostgreSQL and MariaDB.

A rule on a table with a controller column judges each controller at its own cut-off: ``per_controller:``
periods of the policy, or the periods and end dates of the contracts table (the policy's own win). Plans and
the ledger count per controller: declared controllers by name, undeclared ones by keyed fingerprint.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.processor import processor_policy, processor_policy_text, seed_tenants, tenants_left
from support.retention import (
    AS_OF,
    MASTER_KEY_HEX,
    NewRun,
    ledger_entries,
    settings_env,
    snapshot,
    summary_entries,
)

from lethe.cli.main import main
from lethe.crypto import fingerprinter
from lethe.errors import PolicyError, SchemaMismatchError
from lethe.policy.loading import parse_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.settings import Settings

UMBRELLA = fingerprinter(bytes.fromhex(MASTER_KEY_HEX), "db.controller")("umbrella")


def events_rule(extra: str) -> str:
    """A delete rule on ``events`` after 3 years, with extra YAML lines."""
    head = "- name: events\n  table: db.events\n  after: 3 years\n  since: at\n  action: delete\n  max_share: 100%\n"
    return head + "".join(f"  {line}\n" for line in extra.strip().splitlines())


def test_policy_periods_per_controller(
    db_url: str, db_engine: sa.Engine, new_run: NewRun, settings: Settings
) -> None:
    seed_tenants(db_engine, AS_OF)
    policy = processor_policy(db_url, events_rule("per_controller: {acme: 30 days}"))
    run = new_run(policy)
    plan = plan_rule(run, policy.rule("events"))
    # acme: both ages past 30 days; the others: only the 2000-day-old rows are past 3 years
    assert plan.pending == 8
    assert plan.by_controller == {
        "acme": {"pending": 4, "held": 0},
        "globex": {"pending": 2, "held": 0},
        UMBRELLA: {"pending": 2, "held": 0},
    }
    result = enforce_rule(run, policy.rule("events"))
    assert result.applied == 8 and result.by_controller == {"acme": 4, "globex": 2, UMBRELLA: 2}
    assert tenants_left(db_engine, "events") == {"globex": 2, "umbrella": 2}
    summary = summary_entries(ledger_entries(settings), "events")[0].entry
    assert summary.counts["applied:acme"] == 4 and summary.counts[f"applied:{UMBRELLA}"] == 2
    assert "umbrella" not in repr(summary)


def test_contract_periods_and_end_dates(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    ended = (AS_OF - timedelta(days=1)).replace(tzinfo=None)
    later = (AS_OF + timedelta(days=30)).replace(tzinfo=None)
    seed_tenants(
        db_engine,
        AS_OF,
        [
            {"tenant": "acme", "period": None, "ends": ended},  # agreed retention over: every row goes
            {"tenant": "globex", "period": "30 days", "ends": later},  # its own period, not ended yet
        ],
    )
    policy = processor_policy(db_url, events_rule("contract_periods: true"))
    run = new_run(policy)
    plan = plan_rule(run, policy.rule("events"))
    assert {c: b["pending"] for c, b in plan.by_controller.items()} == {"acme": 4, "globex": 4, UMBRELLA: 2}
    enforce_rule(run, policy.rule("events"))
    assert tenants_left(db_engine, "events") == {"umbrella": 2}


def test_the_policy_period_wins_over_the_contract(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    seed_tenants(db_engine, AS_OF, [{"tenant": "globex", "period": "30 days", "ends": None}])
    rule = events_rule("contract_periods: true\nper_controller: {globex: 10 years}")
    policy = processor_policy(db_url, rule)
    plan = plan_rule(new_run(policy), policy.rule("events"))
    assert "globex" not in plan.by_controller and plan.pending == 4  # acme 2 and umbrella 2, by 3 years


def test_a_contract_period_that_cannot_be_read_is_refused(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    seed_tenants(db_engine, AS_OF, [{"tenant": "globex", "period": "forever", "ends": None}])
    policy = processor_policy(db_url, events_rule("contract_periods: true"))
    before = snapshot(db_engine)
    with pytest.raises(SchemaMismatchError, match=r"processor.contracts .*1 row\(s\) whose period") as caught:
        enforce_rule(new_run(policy), policy.rule("events"))
    assert "globex" not in str(caught.value) and "forever" not in str(caught.value)
    assert snapshot(db_engine) == before


def test_an_unknown_controller_column_is_refused(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    seed_tenants(db_engine, AS_OF)
    text = processor_policy_text(events_rule("per_controller: {acme: 30 days}")).replace(
        "db.events:\n    subject: user\n    controller_column: tenant",
        "db.events:\n    subject: user\n    controller_column: owner",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    env = {"DB_URL": db_url, **settings_env(tmp_path)}
    validated = CliRunner().invoke(main, ["validate", str(path)], env=env)
    assert validated.exit_code == 2 and "owner" in validated.output, validated.output
    before = snapshot(db_engine)
    refused = CliRunner().invoke(main, ["retention", "enforce", "--yes", str(path)], env=env)
    assert refused.exit_code == 2 and "owner" in refused.output, refused.output
    assert snapshot(db_engine) == before


def test_policy_mistakes_are_refused_at_load(db_url: str) -> None:
    with pytest.raises(PolicyError, match="unknown controller 'initech'"):
        processor_policy(db_url, events_rule("per_controller: {initech: 30 days}"))
    text = processor_policy_text(events_rule("contract_periods: true")).replace("role: processor\n", "")
    with pytest.raises(PolicyError, match="set `role: processor`"):
        parse_policy(text, environ={"DB_URL": db_url})


def test_integer_controller_keys(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    table = sa.Table(
        "visits",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant_id", sa.Integer, nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    table.create(db_engine)
    seed_tenants(db_engine, AS_OF)  # the contracts table (unused here) and the rest of the schema
    at = (AS_OF - timedelta(days=60)).replace(tzinfo=None)
    with db_engine.begin() as connection:
        connection.execute(
            table.insert(), [{"id": i, "tenant_id": t, "at": at} for i, t in enumerate([7, 7, 8, None])]
        )
    text = processor_policy_text(
        "- name: visits\n  table: db.visits\n  after: 1 year\n  since: at\n  action: delete\n"
        "  max_share: 100%\n  per_controller: {acme: 30 days}\n"
    ).replace("name: Acme Ltd\n", "name: Acme Ltd\n      key: 7\n")
    # the store's controller column is `tenant`; visits declares its own, an integer
    text = text.replace("data_map:\n", "data_map:\n  db.visits: {controller_column: tenant_id}\n", 1)
    policy = parse_policy(text, environ={"DB_URL": db_url})
    run = new_run(policy)
    plan = plan_rule(run, policy.rule("visits"))
    assert plan.pending == 2 and set(plan.by_controller) == {"acme"}  # tenant 8 and no tenant: by 1 year
    enforce_rule(run, policy.rule("visits"))
    with db_engine.connect() as connection:
        left = sorted(connection.execute(sa.select(table.c.tenant_id)).scalars(), key=str)
    assert left == [8, None]
