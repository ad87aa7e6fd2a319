"""``lethe validate`` on a good policy (lethe/validation/, lethe/dpia/coverage.py, lethe/cli/validate.py).

The Chinook policy (tests/policies/chinook.yaml, chinook_snake.yaml for PostgreSQL's snake_case script) must
fit every engine; the coverage scan must find the columns it deliberately leaves undeclared, and never print
a value it sampled. Broken policies and unreachable stores: test_validation_failures.py.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from support.databases import ChinookDb, make_engine
from support.validation import POLICIES, as_json, invoke, policy_file

from lethe.dpia.coverage import DEFAULT_SAMPLE, scan_coverage
from lethe.policy.loading import load_policy, parse_policy
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid, validate_policy

# Sampling Chinook's NUMERIC columns through SQLite goes through float; the scan only counts them.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

# What the policy deliberately leaves out of the data map (see the top of tests/policies/chinook.yaml).
UNDECLARED = {
    ("Invoice", "BillingAddress"): ("postal_address", "user.contact.address"),
    ("Invoice", "BillingPostalCode"): ("postcode", "user.contact.address.postal_code"),
    ("Employee", "Phone"): ("phone", "user.contact.phone_number"),
}
COVERAGE_KEYS = {
    "store", "table", "column", "kind", "suggested_category", "evidence", "confidence", "matched", "sampled",
    "declared",
}  # fmt: skip


@dataclass(frozen=True)
class Runs:
    """The good policy validated once per engine, as JSON and as text."""

    json: Result
    text: Result


@pytest.fixture(scope="module")
def runs(chinook_url: ChinookDb) -> Runs:
    path = policy_file(chinook_url)
    return Runs(json=invoke(path, "--json", url=chinook_url.url), text=invoke(path, url=chinook_url.url))


# ---------------------------------------------------------------------------------------------- the policy


def _snake(value: str) -> str:
    return ".".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in value.split("."))


_PASCAL = re.compile(r"^(chinook\.)?[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:\.[A-Z][a-z]+(?:[A-Z][a-z]+)*)?$")


def _to_snake(node: Any, key: str = "") -> Any:
    """A policy dump with every PascalCase identifier (``Customer``, ``Invoice.InvoiceDate``) in snake_case."""
    if isinstance(node, dict):
        return {_to_snake(k): _to_snake(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_snake(v, key) for v in node]
    if isinstance(node, str) and key != "expectation" and _PASCAL.match(node):
        return _snake(node)
    return node


def test_the_two_policy_files_say_the_same() -> None:
    environ = {"CHINOOK_URL": "sqlite://"}
    pascal = load_policy(POLICIES / "chinook.yaml", environ=environ)
    snake = load_policy(POLICIES / "chinook_snake.yaml", environ=environ)
    assert _to_snake(pascal.model_dump(mode="json")) == snake.model_dump(mode="json")
    assert pascal.rule("inactive-customers-5y").anchor_columns == ["Invoice.InvoiceDate"]
    declared = {
        (str(ref), column) for ref, table_map in pascal.data_map.items() for column in table_map.columns
    }
    for table, column in UNDECLARED:
        assert (f"chinook.{table}", column) not in declared


def test_chinook_policy_fits_every_engine(chinook_url: ChinookDb) -> None:
    policy = load_policy(policy_file(chinook_url), environ={"CHINOOK_URL": chinook_url.url})
    with Stores(policy) as stores:
        # The customer rule's only anchor is in a related table (Invoice, by its foreign key to Customer).
        assert validate_policy(policy, stores) == []
        assert require_valid(policy, stores) == []


# ----------------------------------------------------------------------------------------------- the CLI


def test_good_policy_exits_0_with_the_json_report(chinook_url: ChinookDb, runs: Runs) -> None:
    assert runs.json.exit_code == 0, runs.json.output
    report = as_json(runs.json)
    assert set(report) == {"policy", "policy_hash", "valid", "findings", "coverage"}
    path = policy_file(chinook_url)
    assert report["policy"] == str(path)
    assert report["policy_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["valid"] is True
    assert report["findings"] == []
    assert report["coverage"], "the scan found nothing at all"
    for finding in report["coverage"]:
        assert set(finding) == COVERAGE_KEYS
        assert finding["store"] == "chinook"
        assert 0 < finding["confidence"] <= 1
        assert 0 <= finding["matched"] <= finding["sampled"] <= DEFAULT_SAMPLE


def test_coverage_finds_exactly_the_deliberately_undeclared_columns(
    chinook_url: ChinookDb, runs: Runs
) -> None:
    db = chinook_url
    coverage = as_json(runs.json)["coverage"]
    undeclared = {(f["table"], f["column"]): f for f in coverage if not f["declared"]}
    assert set(undeclared) == {(db.name(t), db.name(c)) for t, c in UNDECLARED}
    engine = make_engine(db.url)
    try:
        with engine.connect() as connection:
            for (table, column), (kind, category) in UNDECLARED.items():
                finding = undeclared[(db.name(table), db.name(column))]
                assert (finding["kind"], finding["suggested_category"]) == (kind, category)
                assert "name" in finding["evidence"]  # every one of them says what it is in its name
                col: sa.ColumnClause[str] = sa.column(db.name(column))
                nonblank = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(sa.table(db.name(table)))
                    .where(col.is_not(None), sa.func.trim(col) != "")
                ).scalar_one()
                assert finding["sampled"] == min(DEFAULT_SAMPLE, nonblank)
    finally:
        engine.dispose()


def test_coverage_marks_declared_columns_declared(chinook_url: ChinookDb, runs: Runs) -> None:
    db = chinook_url
    policy = load_policy(policy_file(db), environ={"CHINOOK_URL": db.url})
    declared = {
        (ref.table, column) for ref, table_map in policy.data_map.items() for column in table_map.columns
    }
    declared |= {(s.table, c) for s in policy.subjects.values() for c in (s.key, *s.lookup)}
    coverage = as_json(runs.json)["coverage"]
    for finding in coverage:
        assert finding["declared"] == ((finding["table"], finding["column"]) in declared), finding
    found = {(f["table"], f["column"]): f for f in coverage}
    for table, column, kind in [
        ("Customer", "Email", "email"),
        ("Customer", "FirstName", "person_name"),
        ("Customer", "LastName", "person_name"),
        ("Customer", "Phone", "phone"),
        ("Customer", "Address", "postal_address"),
        ("Customer", "PostalCode", "postcode"),
        ("Employee", "BirthDate", "birth_date"),
        ("Employee", "Email", "email"),
    ]:
        finding = found[(db.name(table), db.name(column))]
        assert (finding["kind"], finding["declared"]) == (kind, True)


def _real_values(db: ChinookDb) -> list[str]:
    """Personal values from the database, long and distinctive enough not to occur in a report by chance."""
    engine = make_engine(db.url)
    n = db.name
    try:
        with engine.connect() as connection:

            def column(table: str, name: str) -> list[str]:
                t = sa.table(n(table), sa.column(n(name)))
                return [v for v in connection.execute(sa.select(t.c[n(name)])).scalars() if v]

            customers = sa.table(n("Customer"), sa.column(n("FirstName")), sa.column(n("LastName")))
            full_names = [
                f"{first} {last}"
                for first, last in connection.execute(
                    sa.select(customers.c[n("FirstName")], customers.c[n("LastName")])
                )
            ]
            values = [
                *column("Customer", "Email"),
                *column("Customer", "Phone"),
                *column("Customer", "Address"),
                *column("Invoice", "BillingAddress"),
                *column("Employee", "Phone"),
                *column("Employee", "Email"),
                *full_names,
            ]
    finally:
        engine.dispose()
    return [v.strip() for v in values if len(v.strip()) >= 6]


def test_no_sampled_value_appears_in_the_reports(chinook_url: ChinookDb, runs: Runs) -> None:
    values = _real_values(chinook_url)
    assert len(values) > 59 * 4  # emails, phones, addresses and names of every customer, and more
    assert sum("@" in v for v in values) == 59 + 8  # every customer's and employee's email
    for result in (runs.json, runs.text):
        printed = result.stdout + result.stderr
        leaked = [v for v in values if v in printed]
        assert leaked == [], f"{len(leaked)} sampled value(s) printed"


def test_text_report_lists_the_gaps_and_says_valid(chinook_url: ChinookDb, runs: Runs) -> None:
    assert runs.text.exit_code == 0, runs.text.output
    lines = runs.text.stdout.splitlines()
    assert "schema: the policy fits the database" in lines
    assert lines[-1] == "valid"
    gaps = [line.split()[1] for line in lines if line.startswith("  undeclared ")]
    assert sorted(gaps) == sorted(
        f"chinook.{chinook_url.name(t)}.{chinook_url.name(c)}" for t, c in UNDECLARED
    )
    assert any(line.startswith("coverage: ") and "3 not declared" in line for line in lines)


def test_strict_fails_on_the_undeclared_columns(chinook_url: ChinookDb) -> None:
    result = invoke(policy_file(chinook_url), "--json", "--strict", url=chinook_url.url)
    assert result.exit_code == 2
    report = as_json(result)
    assert (report["valid"], report["findings"]) == (False, [])
    assert sum(not f["declared"] for f in report["coverage"]) == len(UNDECLARED)


def test_strict_without_coverage_passes(chinook_url: ChinookDb) -> None:
    result = invoke(policy_file(chinook_url), "--json", "--strict", "--no-coverage", url=chinook_url.url)
    assert result.exit_code == 0
    assert as_json(result)["coverage"] == []


def test_coverage_samples_the_first_and_last_rows_of_a_table_only(db_url: str, db_engine: sa.Engine) -> None:
    """Looking for non-null values reads two windows at most, never a mostly-NULL column's whole table."""
    md = sa.MetaData()
    notes = sa.Table(
        "notes", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("remark", sa.String(100), nullable=True),
        sa.Column("later", sa.String(100), nullable=True),
    )  # fmt: skip
    md.create_all(db_engine)
    # `remark` holds emails in the middle rows only; `later` (a column added later) in the last rows only.
    rows = [
        {
            "id": i,
            "remark": f"a{i}@example.org" if 30 < i <= 60 else None,
            "later": f"b{i}@example.org" if i > 60 else None,
        }
        for i in range(1, 91)
    ]
    with db_engine.begin() as connection:
        connection.execute(notes.insert(), rows)
    policy = parse_policy(f'version: 1\ncontroller: {{name: T}}\nstores:\n  db: {{url: "{db_url}"}}\n')

    def sampled(window: int) -> dict[str, int]:
        with Stores(policy) as stores:
            scan = scan_coverage(policy, stores, sample_window=window)
        return {f.column: f.sampled for f in scan if f.table == "notes"}

    assert sampled(30) == {"later": 30}  # the middle is outside both windows; the last rows are read
    assert sampled(100) == {"remark": 30, "later": 30}  # both windows cover the table: each row counted once
