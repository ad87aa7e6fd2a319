"""What a flow run's heartbeat costs: an empty flow run on ephemeral Prefect, with each heartbeat loop in turn.

``python -m benchmarks.heartbeat [ROUNDS]`` (default 10) runs an empty flow once per variant per round,
alternating, and prints each variant's median, min and max seconds:

* ``prefect``: Prefect 3.9's own ``_send_heartbeats`` (a thread that sleeps in one-second steps, joined when
  the run ends);
* ``lethe``: ``tasks.heartbeat.send_heartbeats`` (the same events, waiting on the stop event);
* ``off``: no heartbeat at all (no crash detection for dead machines).

A side measurement for docs/production.md, not one of the B benchmarks (no baseline, no ratio). Run it in a
fresh process: Prefect reads its settings when imported.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def no_heartbeat(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
    """No heartbeat thread at all."""
    yield


def main(rounds: int = 10) -> dict[str, list[float]]:
    """Time an empty flow run with each heartbeat loop; print and return the seconds per variant."""
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="lethe-heartbeat-")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    os.environ.pop("PREFECT_API_URL", None)
    from prefect import flow, flow_engine
    from prefect.events.worker import EventsWorker
    from prefect.server.api.server import SubprocessASGIServer

    prefects = flow_engine._send_heartbeats
    if "tasks" in sys.modules:
        raise RuntimeError("tasks was imported before: Prefect's own loop is no longer there to measure")
    from tasks.heartbeat import send_heartbeats  # importing tasks installs it: Prefect's is kept above

    variants: dict[str, Callable[..., Any]] = {
        "prefect": prefects,
        "lethe": send_heartbeats,
        "off": no_heartbeat,
    }

    @flow(persist_result=False)
    def empty() -> int:
        return 1

    server = SubprocessASGIServer()
    server.start()
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        empty()  # the first run in a process pays for more than the heartbeat
        for _ in range(rounds):
            for name, loop in variants.items():
                flow_engine._send_heartbeats = loop
                started = time.perf_counter()
                empty()
                times[name].append(time.perf_counter() - started)
    finally:
        flow_engine._send_heartbeats = prefects
        EventsWorker.drain_all(timeout=30)
        server.stop()
    for name, seconds in times.items():
        print(
            f"{name:8s} median {statistics.median(seconds):.3f} s"
            f"  min {min(seconds):.3f} s  max {max(seconds):.3f} s  ({rounds} runs)"
        )
    return times


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
