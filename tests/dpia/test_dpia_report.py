"""The DPIA report and ``lethe dpia`` on the seeded demo shop: self-contained, machine-readable, no personal value.

The report is searched for every email, name, phone number and IBAN the demo generator wrote. The retention
checks are compared with the retention engine's own plan on the three engines (same predicate, same count).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lethe.cli.dpia import exit_code
from lethe.cli.main import main
from lethe.demo.seed import DemoSpec, seed
from lethe.dpia.checks import CheckResult, CheckRun, run_checks
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.retention.plan import plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores, create_store_engine

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 200-customer demo shop in SQLite, keys and a ledger holding one retention plan; returns the URL."""
    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("LETHE_DEMO_URL", url)
    monkeypatch.setenv("LETHE_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=200))
    engine.dispose()
    policy = load_policy(POLICY)
    settings = load_settings()
    ledger = Ledger.from_settings(settings)
    with Stores(policy) as stores:
        run = RetentionRun(policy, stores, settings, AS_OF, ledger=ledger)
        started = datetime.now(UTC)
        ledger.append(plan_entry(run, [plan_rule(run, r, sample=0) for r in policy.retention], started))
    ledger._engine.dispose()
    return url


def personal_values(url: str) -> list[str]:
    """Every email, name, phone number and IBAN of the seeded demo."""
    engine = create_store_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT email, full_name, phone, iban FROM customers")).all()
    engine.dispose()
    values = [str(v) for row in rows for v in row if v]
    assert len(values) > 500
    return values


def test_report_is_self_contained_machine_readable_and_free_of_personal_values(
    demo_env: str, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["dpia", POLICY, "--out", str(out), "--as-of", AS_OF.isoformat()])
    # The demo breaks retention (nothing enforced yet), consent (stale sends) and k-anonymity: exit 5.
    assert result.exit_code == 5, result.output
    html = (out / "dpia.html").read_text(encoding="utf-8")
    markdown = (out / "dpia.md").read_text(encoding="utf-8")
    data = json.loads((out / "dpia.json").read_text(encoding="utf-8"))

    assert not re.search(r"https?://", html)
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|@import|url\(", html, re.IGNORECASE)
    assert html.count("<svg") == 2 and "Content-Security-Policy" in html
    assert "Risk register" in html and "Risk register" in markdown

    assert data["status"] == "fail" and data["evaluated"] == data["expected"] == len(data["results"])
    statuses = {r["id"]: r["status"] for r in data["results"]}
    assert statuses["retention:web-sessions-90d"] == statuses["consent:newsletter"] == "fail"
    assert statuses["k_anonymity:shop.customers"] == "fail"
    assert statuses["coverage:undeclared"] == statuses["localisation:regions"] == "pass"
    assert data["risk_register"] and all(statuses[i] != "pass" for i in data["risk_register"])
    register = [r for r in data["results"] if r["id"] in data["risk_register"]]
    assert all(r["risk"] == r["likelihood"] * r["severity"] > 0 for r in register)
    assert {r["owner"] for r in register} == {"Data Protection Officer"}
    # The backlog comes from the ledger: the plan recorded by the fixture and this run's own entry.
    assert len(data["backlog"]["web-sessions-90d"]) == 2
    assert "web-sessions-90d: " in html  # a point's tooltip in the backlog chart

    for text in (html, markdown, json.dumps(data)):
        for value in personal_values(demo_env):
            assert value not in text


def test_cli_json_summary(demo_env: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["dpia", POLICY, "--out", str(tmp_path / "r"), "--as-of", "2026-11-01", "--json"]
    )
    assert result.exit_code == 5
    payload = json.loads(result.output)
    assert payload["failed"] > 0 and payload["errors"] == 0
    assert payload["evaluated"] == payload["expected"] == len(payload["checks"])
    assert Path(payload["report"]["html"]).is_file()


def _result(status: str, error: str | None = None) -> CheckResult:
    return CheckResult(
        id=f"x:{status}", title="t", kind="retention", status=status, observed={}, threshold="0",  # type: ignore[arg-type]
        evidence="lethe", severity=3, likelihood=4, mitigation="m", owner="DPO", error=error,
    )  # fmt: skip


def _run(*results: CheckResult, evaluated: int | None = None) -> CheckRun:
    count = len(results)
    return CheckRun(
        list(results), count if evaluated is None else evaluated, count, AS_OF, AS_OF, "h" * 64, AS_OF
    )


def test_exit_codes() -> None:
    assert exit_code(_run(_result("pass"))) == 0
    assert exit_code(_run(_result("pass"), _result("fail"))) == 5
    assert exit_code(_run(_result("fail"), _result("error", "MetricResolutionError"))) == 1
    assert exit_code(_run(_result("error", "StoreError: store shop: cannot connect"))) == 3
    # Fewer evaluated than generated is never a pass.
    assert exit_code(_run(_result("pass"), evaluated=0)) == 1


def test_retention_checks_count_what_the_retention_engine_plans(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_store_engine(db_url)
    seed(engine, DemoSpec(customers=60))
    engine.dispose()
    monkeypatch.setenv("LETHE_DEMO_URL", db_url)
    policy = load_policy(POLICY)
    settings = load_settings({"LETHE_MASTER_KEY": "ab" * 32})
    with Stores(policy) as stores:
        run = run_checks(policy, stores, settings, as_of=AS_OF)
        planner = RetentionRun(policy, stores, settings, AS_OF)
        planned = {r.name: plan_rule(planner, r, sample=0).pending for r in policy.retention}
    measured = {r.id.split(":", 1)[1]: r.observed["violations"] for r in run.results if r.kind == "retention"}
    assert measured == planned and sum(planned.values()) > 0
    assert run.complete and run.count("error") == 0


def test_an_unreachable_store_is_exit_3_and_its_password_stays_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_DEMO_URL", "postgresql+psycopg://lethe:pw-9f3a1c@127.0.0.1:1/nowhere")
    monkeypatch.delenv("LETHE_LEDGER_KEY", raising=False)
    out = tmp_path / "r"
    result = CliRunner().invoke(main, ["dpia", POLICY, "--out", str(out), "--as-of", "2026-11-01"])
    assert result.exit_code == 3, result.output
    data = json.loads((out / "dpia.json").read_text(encoding="utf-8"))
    assert data["status"] == "error" and data["evaluated"] < data["expected"]
    assert all(r["status"] == "error" for r in data["results"] if r["id"] != "localisation:regions")
    for text in (result.output, *(p.read_text(encoding="utf-8") for p in out.iterdir())):
        assert "pw-9f3a1c" not in text
