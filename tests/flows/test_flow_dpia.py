"""The DPIA flow under a real (local, temporary) Prefect server: statuses, artifact, event, notification.

The store is a small demo shop in SQLite whose checks fail (nothing enforced, stale newsletter sends), so
the flow must complete, publish the report and emit ``lethe.dpia.check.failed``; the event is read back
from the server, and the automation of docs/dpia.md (its YAML, as documented) must notify a webhook
listening on localhost. Prefect's database and the notification are then searched for personal values.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from support.prefect_state import dump_database

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
FAILED = "lethe.dpia.check.failed"
DOCS = ROOT / "docs" / "dpia.md"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP endpoint recording the bodies posted to it; yields (url, bodies)."""
    bodies: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", bodies
    finally:
        server.shutdown()
        server.server_close()


def documented_automation(block_id: str) -> dict[str, object]:
    """The automation YAML of docs/dpia.md, pointed at ``block_id``."""
    block = re.search(r"```yaml\n(name: lethe-dpia-findings.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert block is not None, "docs/dpia.md has no automation YAML"
    spec = yaml.safe_load(block.group(1))
    spec["actions"][0]["block_document_id"] = block_id
    return spec


def test_flow_completes_publishes_the_report_emits_the_event_and_notifies(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_server: str,
    webhook: tuple[str, list[str]],
) -> None:
    from prefect import get_client
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.schemas.automations import AutomationCore

    from flows.dpia import dpia_flow

    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("LETHE_DEMO_URL", url)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=100))
    with engine.connect() as connection:
        values = [
            v for row in connection.execute(sa.text("SELECT email, full_name FROM customers")) for v in row
        ]
    engine.dispose()

    url_, bodies = webhook
    block = CustomWebhookNotificationBlock(
        name="dpo", url=url_, json_data={"text": "{{subject}}\n{{body}}"}, allow_private_urls=True
    )
    block_id = block.save("lethe-test-dpo", overwrite=True)
    with get_client(sync_client=True) as client:
        client.create_automation(AutomationCore.model_validate(documented_automation(str(block_id))))
    time.sleep(2)  # the triggers service loads new automations from the database

    outcome = dpia_flow(policy=POLICY, out_dir=str(tmp_path / "dpia"), as_of=AS_OF)

    assert outcome["status"] == "fail" and outcome["failed"] > 0 and outcome["errors"] == 0
    assert outcome["evaluated"] == outcome["expected"] == len(outcome["checks"])
    assert outcome["checks"]["consent:newsletter"] == "fail"
    assert (tmp_path / "dpia" / "dpia.html").is_file()
    failing = sorted(k for k, v in outcome["checks"].items() if v != "pass")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["dpia-report"]))
        )
        assert artifacts and "Risk register" in str(artifacts[0].data)
        events = []
        deadline = time.monotonic() + 30
        while not events and time.monotonic() < deadline:
            # limit: the client's default (100) is above what the server accepts (50)
            page = client.read_events(filter=EventFilter(event=EventNameFilter(name=[FAILED])), limit=10)
            events = page.events
            time.sleep(0.5)
    assert len(events) == 1, "the failure event never reached the server"
    event = events[0]
    assert event.resource.id.startswith("lethe.policy.")
    assert event.payload == {"failed": outcome["failed"], "errors": 0, "checks": failing}

    deadline = time.monotonic() + 30
    while not bodies and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(bodies) == 1, "the documented automation did not notify"
    text = json.loads(bodies[0])["text"]
    assert f"{outcome['failed']} failed, 0 errors" in text and "consent:newsletter" in text

    dump = dump_database(prefect_server)
    assert "dpia-report" in dump and "lethe.dpia.check.failed" in dump
    for value in values:
        assert value not in dump and value not in text
