"""The consent-withdrawal and breach-clock flows under a real (local, temporary) Prefect server.

The withdrawal flow erases the newsletter sends of withdrawn subjects in a demo shop (SQLite), records it
and publishes counts; the clock flow emits its three events for a breach the controller became aware of
73 hours ago, and none for one it just learnt of. Prefect's database is then searched for personal values.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_without_parameters

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

POLICY = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")


def test_withdrawal_flow_erases_records_and_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from flows.consent import consent_withdrawal_flow

    url = f"sqlite:///{tmp_path}/shop.db"
    for name, value in {
        "LETHE_DEMO_URL": url,
        "LETHE_MASTER_KEY": "ab" * 32,
        "LETHE_LEDGER_KEY": "cd" * 32,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
    }.items():
        monkeypatch.setenv(name, value)
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=60))
    with engine.connect() as connection:
        values = [
            v for row in connection.execute(sa.text("SELECT email, full_name FROM customers")) for v in row
        ]
        sends = connection.execute(sa.text("SELECT count(*) FROM newsletter_sends")).scalar_one()
    dry = consent_withdrawal_flow(policy=POLICY, dry_run=True)
    outcome = consent_withdrawal_flow(policy=POLICY)
    with engine.connect() as connection:
        left = connection.execute(sa.text("SELECT count(*) FROM newsletter_sends")).scalar_one()
    engine.dispose()
    newsletter = next(p for p in outcome["purposes"] if p["purpose"] == "newsletter")
    dry_newsletter = next(p for p in dry["purposes"] if p["purpose"] == "newsletter")
    assert not dry["honoured"] and dry_newsletter["rows"] == newsletter["rows"]  # counted, then done
    assert newsletter["rows"]["shop.newsletter_sends"] == sends - left > 0
    assert outcome["honoured"] is True
    dump = dump_without_parameters(prefect_server)
    assert "consent-withdrawals" in dump
    for value in values:
        assert value not in dump


def test_clock_flow_emits_the_milestones_that_are_due(prefect_server: str) -> None:
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.breach import breach_clock_flow

    late = breach_clock_flow(
        breach_id="BR-test-late", aware_at=datetime.now(UTC) - timedelta(hours=73), wait=False
    )
    fresh = breach_clock_flow(breach_id="BR-test-fresh", aware_at=datetime.now(UTC), wait=False)
    assert late["emitted"] == ["lethe.breach.clock.24h", "lethe.breach.clock.48h", "lethe.breach.clock.72h"]
    assert fresh["emitted"] == []
    names = ["lethe.breach.clock.24h", "lethe.breach.clock.48h", "lethe.breach.clock.72h"]
    events: list[object] = []
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while len(events) < 3 and time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(
                    event=EventNameFilter(name=names),
                    resource=EventResourceFilter(
                        id=["lethe.breach.BR-test-late", "lethe.breach.BR-test-fresh"]
                    ),
                ),
                limit=10,
            )
            events = list(page.events)
            time.sleep(0.5)
    assert sorted(e.event for e in events) == names  # type: ignore[attr-defined]
    assert {e.resource.id for e in events} == {"lethe.breach.BR-test-late"}  # type: ignore[attr-defined]
