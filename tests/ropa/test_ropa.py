"""The record of processing activities (lethe/ropa.py, lethe/ropa_render.py, lethe/cli_ropa.py).

No database is needed: the RoPA is built from the policy alone, so the store URLs are dummies.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html import escape
from pathlib import Path

import pytest
from click.testing import CliRunner

from lethe.cli.main import main
from lethe.cli.ropa import ropa
from lethe.policy.loading import load_policy, parse_policy
from lethe.policy.model import Policy
from lethe.ropa.record import ART9_MARKER, CONTROLLER_FIELDS, NONE, RECORD_FIELDS, Ropa, build_ropa
from lethe.ropa.render import CSV_COLUMNS, render_csv, render_html, render_markdown

ROOT = Path(__file__).resolve().parents[2]
ENV = {"LETHE_DEMO_URL": "sqlite:///x.db", "CHINOOK_URL": "sqlite:///x.db"}
POLICIES = [ROOT / "config" / "demo.yaml", ROOT / "tests" / "policies" / "chinook.yaml"]
DAY = date(2026, 5, 1)
LABELS = [label for _, label in CONTROLLER_FIELDS + RECORD_FIELDS]

CLINIC = """
version: 1
controller: {name: Clinic Ltd}
stores:
  db: {url: "sqlite:///x.db", region: eu-central-1}
subjects:
  patient: {store: db, table: patients, key: id, description: people treated at the clinic}
data_map:
{tables}
activities:
  - name: treatment
    purpose: "treat patients <b>& bill them</b>"
    lawful_basis: contract
    subjects: [patient]
    categories: [user.name, user.health]
  - name: research
    purpose: "=HYPERLINK(1) studies"
    lawful_basis: legitimate_interests
    legitimate_interest: improving care
    subjects: [patient]
    categories: [user.name]
    security_measures: [pseudonymisation]
    retention_note: until the study ends
"""
VISITS = """\
  db.visits:
    subject: patient
    columns:
      notes: {category: user.health}"""
PATIENTS = """\
  db.patients:
    subject: patient
    columns:
      name: {category: user.name}
      email: {category: user.contact.email}"""


def load(path: Path) -> Policy:
    return load_policy(path, environ=ENV)


def clinic(tables: str = f"{VISITS}\n{PATIENTS}") -> Ropa:
    text = CLINIC.replace("{tables}", tables)
    return build_ropa(parse_policy(text, source="clinic.yaml", environ={}), generated=DAY)


@pytest.fixture(params=POLICIES, ids=lambda p: p.name)
def policy(request: pytest.FixtureRequest) -> Policy:
    return load(request.param)


def test_every_activity_and_field_in_markdown_and_html(policy: Policy) -> None:
    """Each activity is named, and every Art. 30(1) label appears, in Markdown and HTML."""
    ropa = build_ropa(policy, generated=DAY)
    markdown, html = render_markdown(ropa), render_html(ropa)
    assert len(ropa.records) == len(policy.activities) > 0
    for activity in policy.activities:
        assert f". {activity.name}\n" in markdown
        assert f". {escape(activity.name)}</h3>" in html
    for label in LABELS:
        assert label in markdown
        assert escape(label) in html
    # Labels of the activity fields repeat once per activity.
    for _, label in RECORD_FIELDS:
        assert markdown.count(f"**{label}:**") == len(policy.activities)
        assert html.count(f">{escape(label)}</th>") == len(policy.activities)
    assert policy.hash in markdown and policy.hash in html and "2026-05-01" in markdown


def test_csv_one_row_per_activity(policy: Policy) -> None:
    """The CSV parses back: the expected header, one row per activity, no blank cell."""
    text = render_csv(build_ropa(policy, generated=DAY))
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert set(LABELS) <= set(CSV_COLUMNS)
    assert [row["Processing activity"] for row in rows] == [a.name for a in policy.activities]
    for row in rows:
        assert all(value.strip() for value in row.values()), row
        assert row["Policy SHA-256"] == policy.hash


def test_html_is_self_contained(policy: Policy) -> None:
    """No external reference and no script, whatever the policy."""
    html = render_html(build_ropa(policy, generated=DAY))
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script|\bsrc=|<link|@import", html, re.IGNORECASE)
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html


def test_human_wording_of_the_demo() -> None:
    """Lawful bases with their article, retention rules in words, transfers with their safeguard."""
    ropa = build_ropa(load(POLICIES[0]), generated=DAY)
    by_name = {r.name: r for r in ropa.records}
    assert by_name["newsletter"].lawful_basis.startswith("consent (Art. 6(1)(a))")
    assert by_name["security monitoring"].lawful_basis == (
        "legitimate interests (Art. 6(1)(f)): keeping the shop and its customers' accounts secure (Recital 49)"
    )
    fulfilment = by_name["order fulfilment"]
    assert "shop.orders: 7 years after created_at, then deleted (rule orders-7y)" in fulfilment.retention
    customers = next(line for line in fulfilment.retention if "inactive-customers-3y" in line)
    assert customers.startswith("shop.customers: 3 years after the latest of created_at, last_login_at")
    assert "unless legal_hold is set (rule inactive-customers-3y)" in customers
    assert "customer: people who created an account in the shop" in fulfilment.subjects
    assert "user.contact.email: email address" in fulfilment.categories
    assert "shop.customers (region eu-west-1): city, email, full_name, postcode" in fulfilment.storage
    support = by_name["customer support"]
    assert support.transfers == (
        "US (helpdesk software provider), safeguard: standard contractual clauses (Art. 46(2)(c))",
    )
    assert support.recipients == ("helpdesk software provider (in US)",)
    assert support.security_measures == (NONE,)
    assert by_name["security monitoring"].recipients == (NONE,)
    # The demo declares security measures for order fulfilment only: the others are gaps.
    assert sorted(g.where for g in ropa.gaps) == ["customer support", "newsletter", "security monitoring"]


def test_special_category_marker_and_gaps() -> None:
    """user.health is marked Art. 9; missing security measures, retention, DPO and address are gaps."""
    ropa = clinic()
    treatment, research = ropa.records
    assert treatment.special_categories == (f"user.health: health data — {ART9_MARKER}",)
    assert research.special_categories == ("none",)
    assert f"health data — **{ART9_MARKER}**" in render_markdown(ropa)
    assert f'<span class="special">{ART9_MARKER}</span>' in render_html(ropa)
    assert treatment.storage == (
        "db.patients (region eu-central-1): name",
        "db.visits (region eu-central-1): notes",
    )
    gaps = [str(g) for g in ropa.gaps]
    assert any(g.startswith("controller: Data protection officer") for g in gaps)
    assert any(g.startswith("controller: Controller's contact details") for g in gaps)
    assert any(g.startswith("treatment: Technical and organisational security measures") for g in gaps)
    assert any(g.startswith("treatment: Time limits for erasure") for g in gaps)
    assert any("Art. 9(2) condition" in g for g in gaps)
    # The research activity states its measures and a retention note: no gap of its own.
    assert not [g for g in ropa.gaps if g.where == "research"]
    assert research.retention == ("note: until the study ends",)
    assert research.lawful_basis == "legitimate interests (Art. 6(1)(f)): improving care"
    assert ropa.controller.dpo == NONE and ropa.controller.contact == NONE
    markdown = render_markdown(ropa)
    assert f"## Gaps to fill ({len(ropa.gaps)})" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(ropa))))
    assert (
        "security measures" in rows[0]["Gaps to fill"]
        and "Data protection officer" in rows[1]["Gaps to fill"]
    )


def test_everything_is_escaped() -> None:
    """Markup in the policy stays text in HTML and Markdown; a formula-like CSV cell is made text."""
    ropa = clinic()
    html, markdown = render_html(ropa), render_markdown(ropa)
    assert "<b>" not in html and "&lt;b&gt;&amp; bill them&lt;/b&gt;" in html
    assert "<b>" not in markdown and r"\<b\>& bill them\</b\>" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(ropa))))
    assert rows[1]["Purposes of the processing (Art. 30(1)(b))"] == "'=HYPERLINK(1) studies"


def test_deterministic() -> None:
    """Same policy, same day: same bytes; the order of the data map in the file does not matter."""
    for path in POLICIES:
        one, two = build_ropa(load(path), generated=DAY), build_ropa(load(path), generated=DAY)
        for render in (render_markdown, render_html, render_csv):
            assert render(one) == render(two)
    # The same tables in the other order: only the policy hash (over the file's bytes) differs.
    one, two = clinic(), clinic(f"{PATIENTS}\n{VISITS}")
    assert one.records == two.records and one.policy_hash != two.policy_hash


@pytest.mark.parametrize(
    ("name", "start"),
    [("r.html", "<!DOCTYPE html>"), ("r.md", "# Record"), ("r.csv", "Processing activity,")],
)
def test_cli_writes_each_format(tmp_path: Path, name: str, start: str) -> None:
    """``lethe ropa POLICY --out FILE`` picks the format from the extension and reports the gaps."""
    out = tmp_path / name
    result = CliRunner().invoke(ropa, [str(POLICIES[1]), "--out", str(out)], env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith(start)
    assert str(out) in result.stdout and "2 gap(s) to fill" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_cli_format_option_and_unknown_extension(tmp_path: Path) -> None:
    """An unknown extension is a usage error (exit 2) unless --format names the format."""
    out = tmp_path / "ropa.txt"
    refused = CliRunner().invoke(ropa, [str(POLICIES[0]), "--out", str(out)], env=ENV)
    assert refused.exit_code == 2 and not out.exists()
    assert "'.txt'" in refused.output and "--format" in refused.output
    forced = CliRunner().invoke(
        ropa, [str(POLICIES[0]), "--out", str(out), "--format", "md"], env=ENV, catch_exceptions=False
    )
    assert forced.exit_code == 0 and out.read_text(encoding="utf-8").startswith("# Record")


def test_cli_bad_policy_and_unwritable_out(tmp_path: Path) -> None:
    """A missing policy exits 2; an unwritable destination fails cleanly without a traceback."""
    missing = CliRunner().invoke(ropa, [str(tmp_path / "none.yaml"), "--out", str(tmp_path / "r.md")])
    assert missing.exit_code == 2 and "no such policy file" in missing.output
    nowhere = tmp_path / "no" / "such" / "dir" / "r.md"
    failed = CliRunner().invoke(ropa, [str(POLICIES[0]), "--out", str(nowhere)], env=ENV)
    assert isinstance(failed.exception, SystemExit) and failed.exit_code == 1, failed.exception
    assert "Could not open file" in failed.output and not nowhere.exists()


def test_registered_in_the_cli() -> None:
    """``lethe ropa`` is a subcommand of the ``lethe`` group."""
    assert main.commands["ropa"] is ropa
