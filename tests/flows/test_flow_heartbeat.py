"""tasks/heartbeat.py: Lethe's flow-run heartbeats are in Prefect's engine, beat as Prefect's did, and stop.

The loop is driven with a stand-in engine (the four attributes Prefect's engine gives it); that the flow runs
of a real worker still send heartbeat events is checked in tests/deployments/test_prod_path.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import prefect
import pytest
from prefect import flow_engine

import tasks  # installs the heartbeats, as every flow module's import of its tasks does
from tasks.heartbeat import THREAD_NAME, install, send_heartbeats


@dataclass
class _State:
    final: bool = False

    def is_final(self) -> bool:
        return self.final


@dataclass
class _Run:
    state: _State = field(default_factory=_State)


@dataclass
class _Engine:
    """What the loop uses of Prefect's flow run engine; records each heartbeat."""

    heartbeat_seconds: int | None = 30
    flow_run: _Run = field(default_factory=_Run)
    logger: Any = None
    beats: list[tuple[Any, Any]] = field(default_factory=list)
    first: threading.Event = field(default_factory=threading.Event)

    def _build_heartbeat_event_template(self) -> tuple[dict[str, str], list[Any]]:
        return {"prefect.resource.id": "prefect.flow-run.x"}, []

    def _emit_flow_run_heartbeat(self, resource: Any, related: Any) -> None:
        self.beats.append((resource, related))
        self.first.set()


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_installed_in_prefects_flow_engine() -> None:
    assert tasks is not None
    assert prefect.__version__.startswith("3.9."), "Prefect changed: check flow_engine._send_heartbeats again"
    assert flow_engine._send_heartbeats is send_heartbeats
    assert install() is True  # idempotent


def test_beats_at_start_with_prefects_event_and_stops_with_the_block() -> None:
    engine = _Engine()
    with send_heartbeats(engine):
        assert engine.first.wait(timeout=30), "no heartbeat at the start of the run"
        assert len(_threads()) == 1
    assert engine.beats == [({"prefect.resource.id": "prefect.flow-run.x"}, [])]
    assert _threads() == []  # joined: nothing left beating after the run


def test_no_heartbeat_once_the_run_is_final_or_when_switched_off() -> None:
    final = _Engine(flow_run=_Run(_State(final=True)))
    with send_heartbeats(final):
        pass
    off = _Engine(heartbeat_seconds=None)
    with send_heartbeats(off):
        assert _threads() == []
    assert final.beats == [] and off.beats == []


def test_a_failing_emit_does_not_stop_the_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(_Engine):
        def _emit_flow_run_heartbeat(self, resource: Any, related: Any) -> None:
            self.first.set()
            raise RuntimeError("events API down")

    import logging

    engine = Broken(logger=logging.getLogger("test-heartbeat"))
    with caplog.at_level(logging.DEBUG, logger="test-heartbeat"), send_heartbeats(engine):
        assert engine.first.wait(timeout=30)
    assert "Failed to emit heartbeat" in caplog.text
