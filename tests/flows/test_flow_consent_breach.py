"""The consent-withdrawal and breach-clock flows under a real (local, temporary) Prefect server.

The withdrawal flow erases the newsletter sends of withdrawn subjects in a demo shop (SQLite), records it
and publishes counts; the clock flow emits its three events for a breach the controller became aware of
73 hours ago, and none for one it just learnt of. Prefect's database is then searched for personal values.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from support.prefect_state import dump_database
from support.webhook import local_webhook

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
DOCS = ROOT / "docs" / "breach.md"
MILESTONES = ["lethe.breach.clock.24h", "lethe.breach.clock.48h", "lethe.breach.clock.72h"]


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
    dump = dump_database(prefect_server)
    assert "consent-withdrawals" in dump
    for value in values:
        assert value not in dump


def documented_automation(block_id: str) -> dict[str, object]:
    """The automation YAML of docs/breach.md, pointed at ``block_id``."""
    block = re.search(r"```yaml\n(name: lethe-breach-clock.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert block is not None, "docs/breach.md has no automation YAML"
    spec = yaml.safe_load(block.group(1))
    spec["actions"][0]["block_document_id"] = block_id
    return spec


def emit_and_read_clock_events() -> list[Any]:
    """Run the clock for a breach 73 hours old and one just opened; the events the server received."""
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.breach import breach_clock_flow

    late = breach_clock_flow(
        breach_id="BR-test-late", aware_at=datetime.now(UTC) - timedelta(hours=73), wait=False
    )
    fresh = breach_clock_flow(breach_id="BR-test-fresh", aware_at=datetime.now(UTC), wait=False)
    assert late["emitted"] == MILESTONES and fresh["emitted"] == []
    events: list[Any] = []
    resources = EventResourceFilter(id=["lethe.breach.BR-test-late", "lethe.breach.BR-test-fresh"])
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while len(events) < 3 and time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=MILESTONES), resource=resources), limit=10
            )
            events = list(page.events)
            time.sleep(0.5)
    return events


def test_clock_flow_emits_the_milestones_that_are_due_and_the_automation_notifies(
    prefect_server: str,
) -> None:
    from prefect import get_client
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.schemas.automations import AutomationCore

    with local_webhook() as (url, bodies):
        block = CustomWebhookNotificationBlock(
            name="dpo", url=url, json_data={"text": "{{subject}}\n{{body}}"}, allow_private_urls=True
        )
        block_id = block.save("lethe-test-breach-dpo", overwrite=True)
        with get_client(sync_client=True) as client:
            client.create_automation(AutomationCore.model_validate(documented_automation(str(block_id))))
        time.sleep(2)  # the triggers service loads new automations from the database
        events = emit_and_read_clock_events()
        deadline = time.monotonic() + 30
        while len(bodies) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
    assert sorted(e.event for e in events) == MILESTONES
    assert {e.resource.id for e in events} == {"lethe.breach.BR-test-late"}
    texts = sorted(json.loads(body)["text"] for body in bodies)
    assert len(texts) == 3, "the documented automation did not notify once per milestone"
    assert [t.split("\n")[0] for t in texts] == [f"Breach BR-test-late: {m}" for m in MILESTONES]
    assert all("Notify the supervisory authority by" in t for t in texts)
