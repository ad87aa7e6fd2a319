"""Serve the deployments of ``deployments/prefect.yaml`` from one process (``make serve``).

For trying Lethe locally: the deployments, schedules and parameters come from the same file the
production ``prefect deploy`` reads, so both stay the same. Serving stops (and pauses the schedules)
when this process stops; production uses a work pool and a worker instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """Import ``path/to/file.py:function`` relative to the repository root."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    if not isinstance(flow, Flow):
        raise SystemExit(f"{entrypoint} is not a Prefect flow")
    return flow


def deployments_from(file: Path = HERE / "prefect.yaml") -> list[Any]:
    """Runner deployments built from the YAML file's entries."""
    spec = yaml.safe_load(file.read_text())
    runners = []
    for entry in spec["deployments"]:
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in entry.get("schedules", [])
        ]
        runners.append(
            load_flow(entry["entrypoint"]).to_deployment(
                name=entry["name"],
                description=entry.get("description"),
                tags=entry.get("tags"),
                parameters=entry.get("parameters"),
                schedules=schedules or None,
                concurrency_limit=entry.get("concurrency_limit"),
            )
        )
    return runners


def start_server(port: int) -> subprocess.Popen[bytes]:
    """Start a local Prefect server (state under var/prefect) and wait until it answers."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(ROOT / "var" / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
    )
    url = f"http://127.0.0.1:{port}/api/health"
    for _ in range(120):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"the Prefect server did not answer on {url}")


def main() -> None:
    """Serve every deployment until interrupted; ``--with-server`` also runs a local Prefect server."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--with-server", action="store_true", help="start a local Prefect server first")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args()
    if not os.environ.get("LETHE_LEDGER_KEY"):
        # Local trial only: reuse the demo's keys (`make demo` creates them); production sets them from secrets.
        from lethe.demo.setup import KEYS_FILE, ensure_demo_keys

        if not KEYS_FILE.exists():
            raise SystemExit(
                "set LETHE_LEDGER_KEY and LETHE_MASTER_KEY, or run `make demo` once to create demo keys"
            )
        ensure_demo_keys()
    if not args.with_server:
        serve(*deployments_from())
        return
    server = start_server(args.port)
    print(f"Prefect UI: http://127.0.0.1:{args.port}  (Ctrl-C stops the server and the deployments)")
    try:
        # Settings are read when prefect is imported: point this process at the new server explicitly.
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{args.port}/api"}):
            serve(*deployments_from())
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
