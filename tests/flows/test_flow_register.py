"""The request register in the UI, under a real Prefect server: the table artifact, the deadline events, and
an Art. 12(3) extension started as a flow (as the `request-extension` deployment does from the UI)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.shop import settings_env

from lethe.requests.register import RequestRecord, get_request, open_request, state_engine
from lethe.settings import load_settings

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, RequestRecord]:
    for name, value in settings_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    engine = state_engine(load_settings())
    now = datetime.now(UTC)
    ages = {"overdue": 40, "due soon": 27, "open": 2}
    return {
        state: open_request(
            engine, "access", "customer", f"fp1:{i:032x}", received_at=now - timedelta(days=age)
        )
        for i, (state, age) in enumerate(ages.items())
    }


def _events(references: list[str]) -> list[Any]:
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    names = ["lethe.request.overdue", "lethe.request.due-soon"]
    resources = EventResourceFilter(id=[f"lethe.request.{r}" for r in references])
    events: list[Any] = []
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while len(events) < 2 and time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=names), resource=resources), limit=10
            )
            events = list(page.events)
            time.sleep(0.5)
    return events


def _artifact(key: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (latest,) = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return latest


def test_register_artifact_events_and_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from flows.request_register import request_extension_flow, request_register_flow

    requests = _requests(tmp_path, monkeypatch)
    counts = request_register_flow(due_soon_days=7)
    assert counts == {"overdue": 1, "due_soon": 1, "open": 1}

    artifact = _artifact("request-register")
    rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    assert [(row["state"], row["reference"]) for row in rows] == [(s, r.id) for s, r in requests.items()]
    assert "1 overdue, 1 due within 7 days, 1 open" in (artifact.description or "")
    assert set(rows[0]) == {"state", "reference", "type", "subject", "received", "due", "days left", "note"}

    events = _events([r.id for r in requests.values()])
    assert sorted((e.event, e.resource.id) for e in events) == [
        ("lethe.request.due-soon", f"lethe.request.{requests['due soon'].id}"),
        ("lethe.request.overdue", f"lethe.request.{requests['overdue'].id}"),
    ]
    assert events[0].payload["type"] == "access"

    fresh = requests["open"]
    outcome = request_extension_flow(request_id=fresh.id, reason="many requests at once this month")
    assert outcome["outcome"] == "extended" and outcome["tell the subject by"] == fresh.due_at.strftime(
        "%Y-%m-%d"
    )
    extended = get_request(state_engine(load_settings()), fresh.id)
    assert extended.due_at > fresh.due_at + timedelta(days=55)
    assert f"extension-{fresh.id}" in _artifact(f"extension-{fresh.id}").key
