"""A processor-mode policy against the live schema on SQLite, PostgreSQL and MariaDB, and its load-time checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.processor import processor_policy_text, seed_tenants
from support.retention import AS_OF, settings_env

from lethe.cli.main import main
from lethe.errors import PolicyError
from lethe.policy.loading import parse_policy


def validate(db_url: str, tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["validate", str(path)], env={"DB_URL": db_url, **settings_env(tmp_path)}
    )
    return result.exit_code, result.output


def test_controller_columns_and_contracts_are_checked(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_tenants(db_engine, AS_OF)
    code, output = validate(db_url, tmp_path, processor_policy_text())
    assert code == 0, output
    wrong = processor_policy_text().replace("controller_column: tenant\n", "controller_column: owner\n", 1)
    wrong = wrong.replace("period: period, ends: ends", "period: term, ends: ends")
    code, output = validate(db_url, tmp_path, wrong)
    assert code == 2 and "owner" in output and "term" in output, output


def test_processor_mode_needs_a_controller_column_per_table() -> None:
    text = processor_policy_text(table_column=True).replace("    controller_column: tenant\n", "", 1)
    assert "db.accounts:\n    subject: user\n    columns" in text
    with pytest.raises(PolicyError, match=re.escape("data_map.db.accounts.controller_column")):
        parse_policy(text, environ={"DB_URL": "sqlite:///x.db"})
