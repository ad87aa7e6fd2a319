"""Row-count checks of several rules on one table: each rule's checks count that rule's rows only.

Two anonymise rules on ``people`` (one per region, sharing the marker column ``anonymised_at``) and a delete
rule on ``events``. A row of the EU rule that is marked handled but still holds its email is a leak of the EU
rule, never of the US rule, whose handled rows are clean.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.dpia.checks import CheckRun, run_checks
from lethe.policy.loading import parse_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
OLD, RECENT = datetime(2020, 1, 1), datetime(2026, 6, 1)
EXPECTED = {
    "retention:eu-1y": {"violations": 1},
    "pseudonymisation:eu-1y": {"violations": 1, "column:email": 1, "column:full_name": 0},
    "retention:us-2y": {"violations": 2},
    "pseudonymisation:us-2y": {"violations": 0, "column:email": 0, "column:full_name": 0},
    "retention:events-1y": {"violations": 1},
}
RULE = """\
  - name: {name}
    table: db.people
    after: {after}
    since: created_at
    where: {{region: {{equals: {region}}}}}
    action: anonymise
    mark: anonymised_at
    columns:
      email: {{operator: redact, value: erased}}
      full_name: {{operator: "null"}}
"""


def build(engine: Engine) -> None:
    """People of two regions (pending, handled, handled but leaking, recent) and old events."""
    md = sa.MetaData()
    people = sa.Table(
        "people", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("full_name", sa.String(100), nullable=True),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("anonymised_at", sa.DateTime, nullable=True),
    )  # fmt: skip
    events = sa.Table(
        "events", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
    )  # fmt: skip
    md.create_all(engine)

    def person(id_: int, region: str, created: datetime, *, handled: bool = False, leak: bool = False) -> Any:
        email = f"p{id_}@example.com" if leak or not handled else "erased"
        return {
            "id": id_, "email": email, "full_name": None if handled else f"Person {id_}", "region": region,
            "created_at": created, "anonymised_at": RECENT if handled else None,
        }  # fmt: skip

    with engine.begin() as connection:
        connection.execute(
            people.insert(),
            [
                person(1, "eu", OLD),  # pending
                person(2, "eu", OLD, handled=True, leak=True),  # marked handled, email still plaintext
                person(3, "eu", RECENT),
                person(4, "us", OLD),  # pending under us-2y
                person(5, "us", datetime(2024, 1, 1)),  # pending: older than 2 years
                person(6, "us", OLD, handled=True),
                person(7, "us", RECENT),
            ],
        )
        connection.execute(events.insert(), [{"id": 1, "at": OLD}, {"id": 2, "at": RECENT}])


def run(db_url: str, tmp_path: Path) -> CheckRun:
    """Every check of the three rules."""
    text = textwrap.dedent(
        """\
        version: 1
        controller: {name: Test Ltd}
        stores:
          db: {url: "${DB_URL}", timezone: UTC}
        retention:
        """
    )
    text += RULE.format(name="eu-1y", after="1 year", region="eu")
    text += RULE.format(name="us-2y", after="2 years", region="us")
    text += "  - {name: events-1y, table: db.events, after: 1 year, since: at, action: delete}\n"
    policy = parse_policy(text, environ={"DB_URL": db_url})
    settings = load_settings(
        {"LETHE_MASTER_KEY": "ab" * 32, "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/l.db"}
    )
    with Stores(policy) as stores:
        return run_checks(policy, stores, settings, as_of=AS_OF)


def counts(run: CheckRun) -> dict[str, dict[str, Any]]:
    """The row-count checks' measures and status."""
    return {
        r.id: {k: r.observed.get(k) for k in EXPECTED[r.id]} | {"status": r.status}
        for r in run.results
        if r.id in EXPECTED
    }


def test_two_anonymise_rules_on_one_table_each_check_their_own_rows(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    build(db_engine)
    expected = {
        check: dict(measures) | {"status": "pass" if measures["violations"] == 0 else "fail"}
        for check, measures in EXPECTED.items()
    }
    result = run(db_url, tmp_path)
    assert counts(result) == expected and result.complete
