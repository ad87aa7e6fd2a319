"""``lethe validate`` checks the database extensions the policy's operators call: pgcrypto on PostgreSQL.

hmac, noise and fake compute HMAC-SHA256 inside PostgreSQL with pgcrypto. Without it, validate used to say
"valid" and the first erasure or retention run failed. CI installs pgcrypto in template1, so every scratch
database has it: these tests drop it from theirs.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from support.databases import create_scratch_database, drop_scratch_database, make_engine, require_server
from support.retention import shop_tables

from lethe.cli.main import main

pytestmark = pytest.mark.postgres

HEAD = """\
version: 1
controller: {name: Test Ltd}
stores:
  db: {url: "${DB_URL}"}
"""
RETENTION = """\
retention:
  - name: old-customers
    table: db.customers
    after: 3 years
    since: created_at
    action: anonymise
    columns:
      email: {operator: OPERATOR}
"""
SUBJECTS = """\
subjects:
  customer:
    store: db
    table: customers
    key: id
    lookup: [email]
    erasure:
      tables:
        db.customers:
          action: anonymise
          reason: orders are kept
          columns:
            email: {operator: OPERATOR}
        db.orders: {action: keep, reason: tax law}
        db.order_lines: {action: keep, reason: tax law}
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A scratch PostgreSQL database with the shop's tables and without pgcrypto."""
    require_server("postgresql")
    url = create_scratch_database("postgresql")
    engine = make_engine(url)
    try:
        shop_tables()["customers"].metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP EXTENSION IF EXISTS pgcrypto"))
        yield url
    finally:
        engine.dispose()
        drop_scratch_database(url)


def validate(url: str, folder: Path, policy: str) -> Result:
    """``lethe validate --json --no-coverage`` of ``policy`` written to ``folder``."""
    path = folder / "policy.yaml"
    path.write_text(policy, encoding="utf-8")
    return CliRunner().invoke(main, ["validate", str(path), "--json", "--no-coverage"], env={"DB_URL": url})


def errors(result: Result) -> list[tuple[str, str]]:
    """``(code, where)`` of each error finding."""
    return [
        (f["code"], f["where"]) for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"
    ]


@pytest.mark.parametrize(
    ("section", "where"),
    [
        pytest.param(RETENTION, "retention.old-customers.columns.email", id="retention"),
        pytest.param(SUBJECTS, "subjects.customer.erasure.tables.db.customers.columns.email", id="erasure"),
    ],
)
@pytest.mark.parametrize("operator", ["hmac", "noise", "fake"])
def test_a_missing_pgcrypto_is_reported_where_the_policy_first_needs_it(
    pg_url: str, tmp_path: Path, section: str, where: str, operator: str
) -> None:
    options = {"hmac": "hmac", "noise": "noise, amount: 5", "fake": "fake, kind: email"}[operator]
    policy = HEAD + section.replace("OPERATOR", options)
    if section is RETENTION and operator != "hmac":
        policy = policy.replace("    columns:", "    mark: created_at\n    columns:")
    result = validate(pg_url, tmp_path, policy)
    assert result.exit_code == 2, result.output
    assert ("missing-extension", where) in errors(result)
    message = next(
        f["message"] for f in json.loads(result.stdout)["findings"] if f["code"] == "missing-extension"
    )
    assert "pgcrypto" in message


def test_one_finding_per_store_and_valid_once_installed(pg_url: str, tmp_path: Path) -> None:
    policy = HEAD + RETENTION.replace("OPERATOR", "hmac") + SUBJECTS.replace("OPERATOR", "hmac")
    missing = validate(pg_url, tmp_path, policy)
    assert missing.exit_code == 2
    assert [e for e in errors(missing) if e[0] == "missing-extension"] == [
        ("missing-extension", "retention.old-customers.columns.email")
    ]
    engine = make_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE EXTENSION pgcrypto"))
    engine.dispose()
    installed = validate(pg_url, tmp_path, policy)
    assert installed.exit_code == 0, installed.output
    assert errors(installed) == []


def test_operators_without_extensions_need_none(pg_url: str, tmp_path: Path) -> None:
    policy = HEAD + textwrap.dedent(RETENTION).replace("OPERATOR", "redact")
    result = validate(pg_url, tmp_path, policy)
    assert result.exit_code == 0, result.output
