"""The retention flow's partitions on a Dask cluster (``prefect-dask``): what multi-machine runs use.

A ``LocalCluster`` of two worker processes stands in for machines: each partition task run executes in a
Dask worker (its own process, own connections and locks), under the temporary Prefect server. The demo shop
is a SQLite file every worker opens (a server store in production).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

prefect_dask = pytest.importorskip("prefect_dask", reason="prefect-dask is a dev dependency")

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def test_partitions_run_on_a_local_dask_cluster_of_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from flows.retention import retention_flow

    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("LETHE_DEMO_URL", url)
    monkeypatch.setenv("LETHE_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=200))
    engine.dispose()

    runner = prefect_dask.DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    )
    on_dask = retention_flow.with_options(task_runner=runner)
    outcome = on_dask(
        policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000, partitions=2, rules=["web-sessions-90d"]
    )
    assert outcome["applied"] == outcome["pending"] > 0
    ledger = Ledger.from_settings(load_settings())
    (summary,) = [
        e.entry
        for e in ledger.entries()
        if e.entry.rule == "web-sessions-90d" and e.entry.outcome == "completed"
    ]
    assert summary.details["partitions"] == 2
    parts = [v for k, v in summary.counts.items() if k.startswith("applied:p")]
    assert len(parts) == 2 and sum(parts) == outcome["applied"]
    assert verify_ledger(ledger).ok
