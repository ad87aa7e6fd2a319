"""Loading policies: good ones load; each malformed one fails with file, line, field and a clear message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lethe.policy.loading
from lethe.errors import PolicyError
from lethe.policy.loading import load_policy, parse_policy
from lethe.policy.model import LatestOf, Policy

ROOT = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent(
    """\
    version: 1
    controller:
      name: Example Shop Ltd
      dpo: {name: DPO, email: dpo@example.com}
    stores:
      shop:
        url: ${SHOP_URL:-sqlite:///shop.db}
        region: eu-west-1
    subjects:
      customer: {store: shop, table: customers, key: id, lookup: [email]}
    data_map:
      shop.customers:
        subject: customer
        columns:
          email: {category: user.contact.email}
          birth_date: {category: user.demographic.date_of_birth, quasi_identifier: true}
    retention:
      - name: sessions-90d
        table: shop.web_sessions
        after: 90 days
        since: started_at
        action: delete
      - name: inactive-3y
        table: shop.customers
        after: 3y
        since: {latest_of: [created_at, orders.created_at]}
        where: {status: closed}
        unless: [legal_hold]
        action: anonymise
        columns:
          email: {operator: hmac, length: 16}
          birth_date: {operator: generalise, to: year}
    activities:
      - name: fulfilment
        purpose: deliver goods
        lawful_basis: contract
        subjects: [customer]
        categories: [user.contact.email]
        retention: inactive-3y
    """
)


def test_good_policy_loads_with_every_part() -> None:
    policy = parse_policy(GOOD, source="good.yaml", environ={})
    assert policy.stores["shop"].url == "sqlite:///shop.db"
    assert policy.subjects["customer"].lookup == ["email"]
    inactive = policy.rule("inactive-3y")
    assert inactive.after.years == 3
    assert isinstance(inactive.since, LatestOf)
    assert inactive.anchor_columns == ["created_at", "orders.created_at"]
    assert inactive.where["status"].equals == "closed"
    assert inactive.columns["email"].options.model_dump() == {"length": 16}
    assert policy.activities[0].retention == ["inactive-3y"]
    assert len(policy.hash) == 64 and policy.source == "good.yaml"


def test_env_variable_is_interpolated_and_not_part_of_the_hash() -> None:
    one = parse_policy(GOOD, environ={"SHOP_URL": "sqlite:///one.db"})
    two = parse_policy(GOOD, environ={"SHOP_URL": "sqlite:///two.db"})
    assert one.stores["shop"].url == "sqlite:///one.db"
    assert two.stores["shop"].url == "sqlite:///two.db"
    assert one.hash == two.hash


@pytest.mark.parametrize("name", ["demo.yaml", "example.yaml"])
def test_shipped_policies_load(name: str) -> None:
    policy = load_policy(ROOT / "config" / name, environ={"SHOP_DATABASE_URL": "sqlite:///x.db"})
    assert isinstance(policy, Policy)
    assert policy.retention


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (id, policy text, expected line, fragments the message must contain)
MALFORMED: list[tuple[str, str, int | None, list[str]]] = [
    ("empty file", "", None, ["empty"]),
    ("only a comment", "# nothing\n", None, ["empty"]),
    ("yaml syntax error", _replace("  name: Example Shop Ltd", "  name: [Example"), 4, ["not valid YAML"]),
    ("not a mapping", "- just\n- a list\n", 1, ["mapping of sections"]),
    (
        "duplicate key",
        _replace("    region: eu-west-1", "    region: eu-west-1\n    region: us-east-1"),
        9,
        ["duplicate key 'region'"],
    ),
    ("unknown top-level key", GOOD + "retentoin: []\n", 40, ["retentoin", "unknown key"]),
    (
        "unknown nested key",
        _replace("    action: delete", "    action: delete\n    cascade: true"),
        23,
        ["retention.0.cascade", "unknown key"],
    ),
    ("wrong version", _replace("version: 1", "version: 2"), 1, ["version", "1"]),
    (
        "missing controller",
        _replace("controller:\n  name: Example Shop Ltd\n  dpo: {name: DPO, email: dpo@example.com}\n", ""),
        None,
        ["controller", "Field required"],
    ),
    (
        "bad period",
        _replace("after: 90 days", "after: 90 dayz"),
        20,
        ["retention.0.after", "cannot read period '90 dayz'"],
    ),
    ("period without unit", _replace("after: 90 days", "after: 90"), 20, ["needs a unit"]),
    ("zero period", _replace("after: 90 days", "after: 0 days"), 20, ["zero"]),
    (
        "unknown operator",
        _replace("{operator: hmac, length: 16}", "{operator: scramble}"),
        31,
        ["unknown operator 'scramble'", "hmac", "redact"],
    ),
    (
        "bad operator option",
        _replace("{operator: hmac, length: 16}", "{operator: hmac, length: 200}"),
        31,
        ["options of operator 'hmac'", "length"],
    ),
    (
        "generalise without a target",
        _replace("{operator: generalise, to: year}", "{operator: generalise}"),
        32,
        ["exactly one of"],
    ),
    (
        "unknown action",
        _replace("action: delete", "action: shred"),
        22,
        ["retention.0.action", "'delete' or 'anonymise'"],
    ),
    (
        "anonymise without columns",
        _replace("    action: delete", "    action: anonymise"),
        18,
        ["needs `columns:`"],
    ),
    (
        "missing env var",
        _replace("${SHOP_URL:-sqlite:///shop.db}", "${SHOP_DATABASE_URL}"),
        7,
        ["SHOP_DATABASE_URL is not set"],
    ),
    (
        "table ref without store",
        _replace("table: shop.web_sessions", "table: web_sessions"),
        19,
        ["store.table"],
    ),
    (
        "unknown store in rule",
        _replace("table: shop.web_sessions", "table: crm.web_sessions"),
        19,
        ["unknown store 'crm'"],
    ),
    (
        "unknown subject in data map",
        _replace("    subject: customer\n", "    subject: client\n"),
        13,
        ["unknown subject 'client'"],
    ),
    (
        "unknown data category",
        _replace("user.contact.email}", "user.contact.emial}"),
        15,
        ["unknown data category 'user.contact.emial'"],
    ),
    ("duplicate rule name", _replace("name: inactive-3y", "name: sessions-90d"), 23, ["duplicate rule name"]),
    (
        "activity names unknown rule",
        _replace("retention: inactive-3y", "retention: inactive-5y"),
        39,
        ["unknown retention rule 'inactive-5y'"],
    ),
    (
        "bad lawful basis",
        _replace("lawful_basis: contract", "lawful_basis: because"),
        36,
        ["lawful_basis", "consent"],
    ),
    (
        "bad identifier",
        _replace("key: id,", "key: 'id; DROP TABLE x',"),
        10,
        ["subjects.customer.key", "pattern"],
    ),
    (
        "two k-anonymity entries for one table",
        GOOD
        + "checks:\n  k_anonymity:\n"
        + "    - {table: shop.customers, quasi_identifiers: [birth_date], k: 5}\n"
        + "    - {table: shop.customers, quasi_identifiers: [zip], k: 5}\n",
        len(GOOD.splitlines()) + 4,
        ["checks.k_anonymity.1.table", "already has a k_anonymity entry", "one entry"],
    ),
    (
        "a repeated expectation",
        GOOD
        + "checks:\n  expectations:\n"
        # The same arguments written in another order, with keys of mixed types (which JSON cannot sort).
        + "    - {table: shop.customers, expectation: ExpectColumnValuesToNotBeNull,"
        + " kwargs: {column: email, meta: {1: a, b: c}}}\n"
        + "    - {table: shop.customers, expectation: ExpectColumnValuesToNotBeNull,"
        + " kwargs: {meta: {b: c, 1: a}, column: email}}\n",
        len(GOOD.splitlines()) + 4,
        ["checks.expectations.1", "repeats checks.expectations.0"],
    ),
    (
        "a list as a key",
        _replace("    region: eu-west-1", "    region: eu-west-1\n    ? [a, b]\n    : c"),
        9,
        ["a key must be a plain value"],
    ),
    (
        "a tab for indentation",
        _replace("    region: eu-west-1", "\tregion: eu-west-1"),
        None,
        ["not valid YAML", "'\\t'"],
    ),
    (
        "unknown time zone",
        _replace("    region: eu-west-1", "    region: eu-west-1\n    timezone: Mars/Olympus"),
        9,
        ["unknown time zone"],
    ),
]


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each case with PyYAML's C parser (when installed) and with its pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(lethe.policy.loading, "_FAST", lethe.policy.loading._PURE)
    return str(request.param)


@pytest.mark.parametrize(
    ("text", "line", "fragments"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_policy_fails_with_a_clear_message(
    text: str, line: int | None, fragments: list[str], parser: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="bad.yaml", environ={})
    message = str(caught.value)
    assert message.startswith("bad.yaml")
    if line is not None:
        assert f"bad.yaml:{line}:" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_at_least_fifteen_malformed_cases() -> None:
    assert len(MALFORMED) >= 15


def test_every_problem_is_reported_at_once() -> None:
    text = _replace("after: 90 days", "after: soon").replace(
        "{operator: hmac, length: 16}", "{operator: nope}"
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="bad.yaml", environ={})
    assert len(str(caught.value).splitlines()) == 2


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "absent.yaml")


def test_cli_prints_the_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(_replace("after: 90 days", "after: 90 dayz"))
    result = subprocess.run(
        [sys.executable, "-m", "lethe", "validate", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert f"{bad}:20: retention.0.after" in result.stderr
    assert "Traceback" not in result.stderr
