"""The retention flow under a real (local, temporary) Prefect server: dry run, enforcement, approval, no leaks.

One Prefect harness for the whole test run (tests/conftest.py); the store is a small demo shop in
SQLite. After the runs, Prefect's own database and the captured logs are searched for personal values.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_database

from lethe.demo.seed import DemoSpec, seed
from lethe.errors import ParameterError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
MARKER_EMAIL = "marker-5a9c1e@example.org"
MARKER_NAME = "Zelda Markerova-Quist"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> str:
    """A 300-customer demo shop with a marked inactive customer; keys and ledger in tmp_path."""
    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("LETHE_DEMO_URL", url)
    monkeypatch.setenv("LETHE_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=300))
    with engine.begin() as connection:
        # Customer 3 has been inactive for years in the demo data: the marker must be anonymised away.
        connection.execute(
            sa.text("UPDATE customers SET email = :e, full_name = :n WHERE id = 3"),
            {"e": MARKER_EMAIL, "n": MARKER_NAME},
        )
    engine.dispose()
    return url


def _count(url: str, sql: str) -> int:
    engine = create_store_engine(url)
    with engine.connect() as connection:
        value = connection.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return int(value)


def test_dry_run_changes_nothing_and_records_the_plan(shop: str) -> None:
    from flows.retention import retention_flow

    sessions_before = _count(shop, "SELECT count(*) FROM web_sessions")
    state = retention_flow(policy=POLICY, as_of=AS_OF, dry_run=True, return_state=True)
    assert (state.type.value, state.name) == ("COMPLETED", "Dry run")
    outcome = state.result()
    assert outcome["pending"] > 0 and outcome["applied"] == 0
    assert _count(shop, "SELECT count(*) FROM web_sessions") == sessions_before
    entries = list(Ledger.from_settings(load_settings()).entries())
    assert [e.entry.action for e in entries] == ["retention.plan"]


def test_enforcement_applies_verifies_records_and_leaks_nothing(
    shop: str, prefect_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.retention import retention_flow

    caplog.set_level(logging.DEBUG)
    first = retention_flow(policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000)
    assert first["applied"] == first["pending"] > 0
    assert _count(shop, f"SELECT count(*) FROM customers WHERE email = '{MARKER_EMAIL}'") == 0
    assert _count(shop, "SELECT count(*) FROM customers WHERE id = 3 AND email LIKE '~h1:%'") == 1

    second = retention_flow(policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000)
    assert second == {"pending": 0, "applied": 0}

    ledger = Ledger.from_settings(load_settings())
    assert verify_ledger(ledger).ok
    summaries = [
        e.entry for e in ledger.entries() if e.entry.action.startswith("retention.") and e.entry.rule
    ]
    assert sum(s.counts["applied"] for s in summaries) == first["applied"]

    # Nothing personal in Prefect's database (runs, task runs, artifacts, logs) nor in the captured logs.
    dump = dump_database(prefect_server)
    for value in (MARKER_EMAIL, MARKER_NAME, "Markerova"):
        assert value not in dump
        assert value not in caplog.text
    assert "retention-summary" in dump  # the artifacts were written, so the search above saw them


def test_unknown_rule_fails_before_any_change(shop: str) -> None:
    from flows.retention import retention_flow

    before = _count(shop, "SELECT count(*) FROM web_sessions")
    with pytest.raises(Exception, match="unknown retention rule"):
        retention_flow(policy=POLICY, as_of=AS_OF, rules=["no-such-rule"])
    assert _count(shop, "SELECT count(*) FROM web_sessions") == before


def _paused_run(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any], Any]:
    """Start ``target`` (a flow call) in a thread; return it, its outcome holder and the run once paused."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    outcome: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("result", target()))
    runner.start()
    paused = None
    deadline = time.monotonic() + 90
    with get_client(sync_client=True) as client:
        while paused is None and time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                )
            )
            paused = runs[0] if runs else None
            time.sleep(0.5)
    assert paused is not None, "the flow never paused for approval"
    return runner, outcome, paused


def _pause_description(paused: Any) -> str:
    """The markdown the UI shows above the approval form (saved just after the run paused)."""
    from prefect import get_client

    key = paused.state.state_details.run_input_keyset["description"]
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            try:
                return str(client.read_flow_run_input(paused.id, key))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def test_large_change_waits_for_approval_and_rejection_changes_nothing(shop: str) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.retention import retention_flow

    before = _count(shop, "SELECT count(*) FROM web_sessions")
    runner, outcome, paused = _paused_run(
        lambda: retention_flow(policy=POLICY, as_of=AS_OF, approval_threshold=0, return_state=True)
    )
    try:
        description = _pause_description(paused)
        assert "rows would change (approval threshold 0)" in description
        # What it approves: rows per rule, e.g. "| web-sessions-90d | delete | 1,234 | 87% |".
        assert re.search(r"\| web-sessions-90d \| delete \| [\d,]+ \| \d+% \|", description)
    finally:  # never leave the run (and the test's thread) waiting for an answer
        resume_flow_run(paused.id, run_input={"decision": "reject", "reason": "too many at once"})
        runner.join(timeout=90)
    state = outcome["result"]
    assert (state.type.value, state.name) == ("CANCELLED", "Not approved")
    assert _count(shop, "SELECT count(*) FROM web_sessions") == before
    decisions = [
        e.entry
        for e in Ledger.from_settings(load_settings()).entries()
        if e.entry.action == "retention.approval"
    ]
    assert [d.outcome for d in decisions] == ["rejected"]
    assert decisions[0].details["reason"] == "too many at once"


def test_a_rule_over_its_share_pauses_and_the_pause_names_it(shop: str) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.retention import retention_flow

    before = _count(shop, "SELECT count(*) FROM web_sessions")
    # Far below the row threshold, but web sessions are ~87% expired: above a 50% share for every rule.
    runner, outcome, paused = _paused_run(
        lambda: retention_flow(
            policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000, max_share=0.5, return_state=True
        )
    )
    try:
        description = _pause_description(paused)
        assert "retention.web-sessions-90d would change" in description and "limit of 50%" in description
        reasons, _, table = description.partition("| rule |")
        assert "inactive-customers-3y" not in reasons  # ~29%: within its share, so no reason to ask
        assert "| inactive-customers-3y | anonymise |" in table  # yet part of what is approved
        assert "approval threshold" not in reasons
    finally:  # never leave the run (and the test's thread) waiting for an answer
        resume_flow_run(paused.id, run_input={"decision": "reject"})
        runner.join(timeout=90)
    assert outcome["result"].name == "Not approved"
    assert _count(shop, "SELECT count(*) FROM web_sessions") == before


def test_a_future_as_of_is_refused_before_anything_changes(shop: str) -> None:
    from flows.retention import retention_flow
    from tasks.retention import plan_rule_task

    future = datetime(2099, 1, 1, tzinfo=UTC)
    before = _count(shop, "SELECT count(*) FROM orders")
    with pytest.raises(ParameterError, match="in the future"):
        retention_flow(policy=POLICY, as_of=future, approval_threshold=10**9, max_share=1.0)
    with pytest.raises(ParameterError, match="in the future"):
        plan_rule_task.fn(POLICY, "orders-7y", future, "run", None)
    assert _count(shop, "SELECT count(*) FROM orders") == before
    assert list(Ledger.from_settings(load_settings()).entries()) == []
