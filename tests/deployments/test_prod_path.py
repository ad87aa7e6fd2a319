"""The production path end to end: ``make prod-up`` starts a Prefect server on PostgreSQL, creates the process
work pool, deploys deployments/prefect.yaml and starts a worker; through that worker a retention run on a
PostgreSQL store and a subject export complete; ``make prod-down`` stops it all.

Everything is the test's own: the server's database, the store and the ledger are scratch databases on the
PostgreSQL server, the port is a free one, pid files and logs go to ``tmp_path``. Needs PostgreSQL (skipped with the
reason when it does not answer, failed instead under ``CI=true`` or ``LETHE_REQUIRE_SERVERS=1``) and
``make``. About a minute on an idle machine, mostly the server's first start (its migrations).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from support.databases import create_scratch_database, drop_scratch_database, require_server, servers_required

from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prod, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = 240  # a flow run's process imports Prefect and the policy's libraries: slow on a busy machine
KEYS = {"LETHE_MASTER_KEY": "ab" * 32, "LETHE_LEDGER_KEY": "cd" * 32}


@dataclass
class Prod:
    """A running production stack: its API, its environment and where its logs are."""

    api: str
    env: dict[str, str]
    state: Path
    store_url: str

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in sorted(self.state.glob("*.log"))
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``make TARGET`` from the repository root (the documented command), output captured."""
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )


@pytest.fixture
def prod(tmp_path: Path) -> Iterator[Prod]:
    """``make prod-up`` on scratch databases (a 300-customer demo shop as the store), ``make prod-down`` after."""
    require_server("postgresql")
    if shutil.which("make") is None:
        if servers_required():
            pytest.fail("make is not installed: the production path test runs `make prod-up`")
        pytest.skip("make is not installed: the production path test runs `make prod-up`")
    store = create_scratch_database("postgresql")
    server_db = create_scratch_database("postgresql")
    ledger = create_scratch_database("postgresql")
    try:
        engine = create_store_engine(store)
        seed(engine, DemoSpec(customers=300))
        engine.dispose()
        port = _free_port()
        env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
        env |= KEYS | {
            "PREFECT_API_DATABASE_CONNECTION_URL": make_url(server_db)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False),
            "PREFECT_WORKER_QUERY_SECONDS": "2",  # poll for runs every 2 s instead of 10
            "LETHE_PROD_PORT": str(port),
            "LETHE_PROD_DIR": str(tmp_path / "prod"),
            "LETHE_DEMO_URL": store,
            "LETHE_LEDGER_URL": ledger,
            "LETHE_HOME": str(tmp_path / "home"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        stack = Prod(f"http://127.0.0.1:{port}/api", env, tmp_path / "prod", store)
        try:
            up = _make("prod-up", env)
            assert up.returncode == 0, f"make prod-up failed:\n{up.stdout}\n{up.stderr}\n{stack.logs()}"
            yield stack
        finally:
            down = _make("prod-down", env)
            assert down.returncode == 0, f"make prod-down failed:\n{down.stdout}\n{down.stderr}"
            assert not list((tmp_path / "prod").glob("*.pid")), "prod-down left pid files (processes) behind"
    finally:
        for database in (store, server_db, ledger):
            drop_scratch_database(database)


def _start(prod: Prod, deployment: str, parameters: dict[str, Any]) -> str:
    found = prod.call(f"/deployments/name/{deployment}")
    return str(prod.call(f"/deployments/{found['id']}/create_flow_run", {"parameters": parameters})["id"])


def _wait(prod: Prod, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll the runs until every one is in a final state (or the time is up); their last records."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    runs: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        runs = {run_id: prod.call(f"/flow_runs/{run_id}") for run_id in run_ids}
        if all(run["state_type"] in FINAL for run in runs.values()):
            break
        time.sleep(2)
    return runs


def _count(url: str, sql: str) -> int:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_prod_up_runs_retention_and_an_export_through_the_worker(prod: Prod, tmp_path: Path) -> None:
    # The defect this path fixes: the deployments start in this repository, no LETHE_REPO_DIR needed.
    for deployment in prod.call("/deployments/filter", {"limit": 50}):
        assert deployment["work_pool_name"] == "lethe-process"
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ], deployment["name"]

    sessions_before = _count(prod.store_url, "SELECT count(*) FROM web_sessions")
    exports = tmp_path / "exports"
    retention = _start(
        prod,
        "retention/retention-nightly",
        {"as_of": DemoSpec().as_of.isoformat(), "approval_threshold": 10**9, "max_share": 1.0},
    )
    # Unencrypted here (no Secret block on this server): the path is what this test is about; encryption by
    # default is tested in tests/flows/test_flow_delivery.py and the UI tests.
    export = _start(
        prod, "subject-export/subject-export", {"subject_id": "1", "out_dir": str(exports), "encrypt": False}
    )
    runs = _wait(prod, [retention, export])
    for run_id, run in runs.items():
        assert run["state_type"] == "COMPLETED", f"{run['name']} ({run_id}): {run['state']}\n{prod.logs()}"

    # The retention run changed the PostgreSQL store and recorded it in the (PostgreSQL) ledger, under its run id.
    assert _count(prod.store_url, "SELECT count(*) FROM web_sessions") < sessions_before
    settings = load_settings({**KEYS, "LETHE_LEDGER_URL": prod.env["LETHE_LEDGER_URL"]})
    ledger = Ledger.from_settings(settings)
    assert verify_ledger(ledger).ok
    actions = {(e.entry.run_id, e.entry.action) for e in ledger.entries()}
    assert (retention, "retention.plan") in actions
    # The export wrote its zip where the run was told to.
    assert len(list(exports.glob("*.zip"))) == 1

    # Crash detection still has its signal: the worker's flow run sent a heartbeat.
    # (The server stores events in batches: poll for a while.)
    query = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "resource": {"id": [f"prefect.flow-run.{retention}"]},
        },
        "limit": 10,
    }
    deadline = time.monotonic() + 60
    while prod.call("/events/filter", query)["total"] == 0 and time.monotonic() < deadline:
        time.sleep(2)
    assert prod.call("/events/filter", query)["total"] >= 1, "no heartbeat event for the retention run"
