"""``lethe validate`` (lethe/validation.py, lethe/coverage.py, lethe/cli_validate.py) on the three engines.

The Chinook policy (tests/policies/chinook.yaml, chinook_snake.yaml for PostgreSQL's snake_case script) must
fit every engine; the coverage scan must find the columns it deliberately leaves undeclared, and never print
a value it sampled. Broken variants of the policy must each fail with their own finding code; an unreachable
store must exit 3 without showing its password.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result
from support.databases import ChinookDb, make_engine

from lethe.cli.validate import validate
from lethe.dpia.coverage import DEFAULT_SAMPLE, scan_coverage
from lethe.errors import SchemaMismatchError
from lethe.policy.loading import load_policy, parse_policy
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid, validate_policy

# Sampling Chinook's NUMERIC columns through SQLite goes through float; the scan only counts them.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

POLICIES = Path(__file__).resolve().parents[1] / "policies"
PASSWORD = "s3cret-pw"
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


def policy_file(db: ChinookDb) -> Path:
    """The policy spelled as ``db`` spells its identifiers."""
    return POLICIES / ("chinook.yaml" if db.naming == "pascal" else "chinook_snake.yaml")


def invoke(*args: str | Path, url: str) -> Result:
    """``lethe validate ARGS`` with ``CHINOOK_URL=url``."""
    return CliRunner().invoke(
        validate, [str(a) for a in args], env={"CHINOOK_URL": url}, catch_exceptions=False
    )


def as_json(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] == "error"]


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


# ----------------------------------------------------------------------------------------- broken variants

Doc = dict[str, Any]
Name = Callable[[str], str]


def _rule(doc: Doc, name: str) -> Doc:
    rule: Doc = next(r for r in doc["retention"] if r["name"] == name)
    return rule


def _rename_key(mapping: Doc, old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


def _missing_table(doc: Doc, n: Name) -> None:
    _rename_key(doc["data_map"], f"chinook.{n('Customer')}", f"chinook.{n('Customers')}")


def _missing_column(doc: Doc, n: Name) -> None:
    _rename_key(doc["data_map"][f"chinook.{n('Customer')}"]["columns"], n("Email"), n("Emial"))


def _anchor_not_timestamp(doc: Doc, n: Name) -> None:
    _rule(doc, "invoices-10y")["since"] = n("Total")


def _anchor_unrelated(doc: Doc, n: Name) -> None:
    # Employee has no foreign key to Customer (the key goes the other way: Customer.SupportRepId).
    _rule(doc, "inactive-customers-5y")["since"] = {"latest_of": [f"{n('Employee')}.{n('HireDate')}"]}


def _hmac_too_long(doc: Doc, n: Name) -> None:
    _rule(doc, "inactive-customers-5y")["columns"][n("Email")] = {"operator": "hmac"}


def _exemption_not_boolean(doc: Doc, n: Name) -> None:
    _rule(doc, "inactive-customers-5y")["unless"] = [n("Company")]


def _mark_not_timestamp(doc: Doc, n: Name) -> None:
    _rule(doc, "inactive-customers-5y")["mark"] = n("Company")


def _anonymise_key(doc: Doc, n: Name) -> None:
    _rule(doc, "inactive-customers-5y")["columns"][n("CustomerId")] = {"operator": "null"}


# variant, expected code, where, message; {Name} is spelled as the engine's script spells it
BROKEN: dict[str, tuple[Callable[[Doc, Name], None], str, str, str]] = {
    "missing-table": (
        _missing_table, "missing-table", "data_map.chinook.{Customers}",
        "store chinook: no table '{Customers}' (did you mean '{Customer}'?)",
    ),
    "missing-column": (
        _missing_column, "missing-column", "data_map.chinook.{Customer}",
        "table {Customer} has no column '{Emial}' (did you mean '{Email}'?)",
    ),
    "anchor-not-timestamp": (
        _anchor_not_timestamp, "anchor-not-timestamp", "retention.invoices-10y.since",
        "anchor {Total} is numeric, not a date or timestamp",
    ),
    "anchor-unrelated": (
        _anchor_unrelated, "anchor-unrelated", "retention.inactive-customers-5y.since",
        "{Employee} has no foreign key to {Customer} (nor a data-map subject_column for it)",
    ),
    "hmac-too-long": (
        _hmac_too_long, "operator-cannot-write", "retention.inactive-customers-5y.columns.{Email}",
        "{Customer}.{Email}: an hmac token of `length: 64` takes 69 characters (5 for the prefix "
        "`~h<key version>:`, room kept for key versions up to 99) but the column holds 60: "
        "set `length: 55` or widen the column",
    ),
    "exemption-not-boolean": (
        _exemption_not_boolean, "exemption-not-boolean", "retention.inactive-customers-5y.unless",
        "exemption {Company} is text; a hold flag must be boolean",
    ),
    "mark-not-timestamp": (
        _mark_not_timestamp, "mark-not-timestamp", "retention.inactive-customers-5y.mark",
        "mark column {Company} is text",
    ),
    "anonymise-key": (
        _anonymise_key, "anonymise-key", "retention.inactive-customers-5y.columns.{CustomerId}",
        "{CustomerId} is part of the primary key of {Customer}",
    ),
}  # fmt: skip


def _spell(template: str, n: Name) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: n(m.group(1)), template)


@pytest.mark.parametrize("variant", list(BROKEN))
def test_broken_variant_exits_2_with_its_finding(
    chinook_url: ChinookDb, tmp_path: Path, variant: str
) -> None:
    change, code, where, message = BROKEN[variant]
    doc = yaml.safe_load(policy_file(chinook_url).read_text(encoding="utf-8"))
    change(doc, chinook_url.name)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    result = invoke(broken, "--json", "--no-coverage", url=chinook_url.url)
    assert result.exit_code == 2, result.output
    report = as_json(result)
    assert report["valid"] is False
    assert errors(report) == [
        {
            "severity": "error",
            "code": code,
            "where": _spell(where, chinook_url.name),
            "message": _spell(message, chinook_url.name),
        }
    ]


def test_broken_policy_text_report_and_require_valid(chinook_url: ChinookDb, tmp_path: Path) -> None:
    doc = yaml.safe_load(policy_file(chinook_url).read_text(encoding="utf-8"))
    _missing_column(doc, chinook_url.name)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    result = invoke(broken, "--no-coverage", url=chinook_url.url)
    assert result.exit_code == 2
    assert f"did you mean '{chinook_url.name('Email')}'?" in result.stdout
    assert result.stdout.splitlines()[-1] == "invalid: 1 error(s)"

    policy = load_policy(broken, environ={"CHINOOK_URL": chinook_url.url})
    with Stores(policy) as stores, pytest.raises(SchemaMismatchError, match="the policy does not fit"):
        require_valid(policy, stores)


NO_KEY_POLICY = """\
version: 1
controller:
  name: Test Ltd
stores:
  shop:
    url: ${SHOP_URL}
subjects:
  customer: {store: shop, table: customer, key: id, lookup: [email]}
data_map:
  shop.log:
    subject: customer
    columns:
      message: {category: user.content}
retention:
  - name: logs-30d
    table: shop.log
    after: 30 days
    since: at
    action: delete
"""


def test_rule_on_a_table_without_primary_key(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    metadata = sa.MetaData()
    sa.Table(
        "customer",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(100)),
    )
    sa.Table(
        "log",  # an append-only log, as they often are: no primary key
        metadata,
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("message", sa.String(200)),
    )
    metadata.create_all(db_engine)
    path = tmp_path / "log.yaml"
    path.write_text(NO_KEY_POLICY, encoding="utf-8")

    result = CliRunner().invoke(
        validate, [str(path), "--json"], env={"SHOP_URL": db_url}, catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    report = as_json(result)
    assert errors(report) == [
        {
            "severity": "error",
            "code": "no-primary-key",
            "where": "retention.logs-30d",
            "message": "table log has no primary key: rules work in key batches",
        }
    ]
    # the scan still runs (empty tables: judged by name alone), and the subject's lookup counts as declared
    email = next(f for f in report["coverage"] if (f["table"], f["column"]) == ("customer", "email"))
    assert (email["kind"], email["declared"], email["sampled"]) == ("email", True, 0)


# ------------------------------------------------------------------------------------------- unreachable


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL that cannot be reached: servers on a closed port, SQLite under a file (not a folder)."""
    if request.param == "postgresql":
        yield f"postgresql+psycopg://lethe:{PASSWORD}@127.0.0.1:1/chinook"
    elif request.param == "mariadb":
        yield f"mysql+pymysql://lethe:{PASSWORD}@127.0.0.1:1/chinook"
    else:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        yield f"sqlite:///{blocker}/chinook.db"


def test_unreachable_store_exits_3_without_the_password(unreachable_url: str) -> None:
    path = POLICIES / "chinook.yaml"
    result = invoke(path, "--json", url=unreachable_url)
    assert result.exit_code == 3, result.output
    assert PASSWORD not in result.stdout + result.stderr
    report = as_json(result)
    assert report["valid"] is False
    assert report["coverage"] == []
    # nothing else is checked against a store that cannot be read
    [finding] = report["findings"]
    assert (finding["code"], finding["where"]) == ("store-unreachable", "stores.chinook")
    assert finding["message"].startswith(("store chinook: cannot ", "store chinook: no such database file "))

    text = invoke(path, url=unreachable_url)
    assert text.exit_code == 3
    assert PASSWORD not in text.stdout + text.stderr
    assert "store-unreachable" in text.stdout


def test_unreachable_store_exit_code_of_the_real_command() -> None:
    env = {**os.environ, "CHINOOK_URL": f"postgresql+psycopg://lethe:{PASSWORD}@127.0.0.1:1/chinook"}
    done = subprocess.run(
        [sys.executable, "-m", "lethe", "validate", str(POLICIES / "chinook.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 3
    assert PASSWORD not in done.stdout + done.stderr
    assert (
        "store chinook: cannot connect to postgresql+psycopg://lethe:***@127.0.0.1:1/chinook" in done.stdout
    )
    assert "Traceback" not in done.stderr


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
