"""``lethe validate`` on broken policies and unreachable stores (lethe/validation/, lethe/cli/validate.py).

Broken variants of the Chinook policy must each fail with their own finding code; a rule on a table without a
primary key is refused; an unreachable store must exit 3 without showing its password.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from support.databases import ChinookDb
from support.validation import POLICIES, as_json, errors, invoke, policy_file

from lethe.cli.validate import validate
from lethe.errors import SchemaMismatchError
from lethe.policy.loading import load_policy
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid

PASSWORD = "s3cret-pw"


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
