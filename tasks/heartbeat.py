"""Flow-run heartbeats that stop at once when the run ends, instead of up to a second later.

Prefect 3.9 sends a ``prefect.flow-run.heartbeat`` event when a flow run starts and every
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (default 180) from a thread; an automation that expects
them marks runs whose process died as crashed (docs/production.md). Its thread sleeps in one-second steps,
and the engine joins it when the run ends: every flow run waits for the current step to finish, about one
second for a short run (measured: an empty flow run 1.108 s against 0.117 s with the wait below, and
0.102 s with no heartbeat at all; B7's retention run pays 0 to 1 s of its ~3 s).

:func:`send_heartbeats` is the same loop with the same events and interval, waiting on the stop event
instead of sleeping: the join returns as soon as the run ends. :func:`install` puts it in place of
Prefect's, for Prefect 3.9 only; with any other version it leaves Prefect's own, and
tests/flows/test_flow_heartbeat.py fails so that an upgrade checks the engine again.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

THREAD_NAME = "lethe-flow-heartbeat"
PREFECT_SERIES = "3.9."
MINIMUM_INTERVAL = 30  # Prefect's MINIMUM_HEARTBEAT_INTERVAL: the setting cannot go below it


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
    """Emit the flow run's heartbeats while the block runs (as Prefect's ``_send_heartbeats``)."""
    seconds = engine.heartbeat_seconds
    if seconds is None:  # heartbeats switched off in the settings
        yield
        return
    seconds = max(seconds, MINIMUM_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            run = engine.flow_run
            if run is not None and run.state is not None and run.state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            if stop.wait(seconds):
                return

    # The thread sees the caller's context (its settings, so the same API URL), as in Prefect.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(beat,), name=THREAD_NAME, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if join_on_exit:
            thread.join(timeout=2)


def install() -> bool:
    """Use :func:`send_heartbeats` in Prefect's flow engine; True when in place (Prefect 3.9 only)."""
    import prefect
    from prefect import flow_engine

    original = getattr(flow_engine, "_send_heartbeats", None)
    if original is send_heartbeats:
        return True
    if original is None or not prefect.__version__.startswith(PREFECT_SERIES):
        return False
    if list(inspect.signature(original).parameters) != ["engine", "join_on_exit"]:
        return False
    engine = getattr(flow_engine, "BaseFlowRunEngine", None)
    needed = ("heartbeat_seconds", "_build_heartbeat_event_template", "_emit_flow_run_heartbeat")
    if engine is None or not all(hasattr(engine, name) for name in needed):
        return False
    flow_engine._send_heartbeats = send_heartbeats
    return True
