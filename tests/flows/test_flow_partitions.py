"""The retention flow with partitioned rules, under a real (local, temporary) Prefect server.

Every rule of the demo policy split into primary-key ranges run as concurrent task runs, with and without
the store's global concurrency limit (``store:shop``); one verifying finish per rule adding its partitions up.
The store is a small demo shop in SQLite (the core's partition tests run on all three engines).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "demo.yaml")
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> str:
    """A 300-customer demo shop; keys and ledger in tmp_path."""
    url = f"sqlite:///{tmp_path}/shop.db"
    monkeypatch.setenv("LETHE_DEMO_URL", url)
    monkeypatch.setenv("LETHE_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_LEDGER_URL", f"sqlite:///{tmp_path}/ledger.db")
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=300))
    engine.dispose()
    return url


def _partition_task_runs(flow_run_id: str) -> list[str]:
    """Names of the flow run's partition task runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name for r in runs if r.name.startswith("enforce-") and "-part" in r.name)


@pytest.mark.parametrize("limit", [None, 1], ids=["no-limit", "store-limit-1"])
def test_partitions_run_as_task_runs_and_each_rule_is_verified_once(shop: str, limit: int | None) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from flows.retention import retention_flow

    if limit is not None:
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="store:shop", limit=limit)
            )
    try:
        state = retention_flow(
            policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000, partitions=3, return_state=True
        )
        outcome = state.result()
        assert outcome["applied"] == outcome["pending"] > 0
        names = _partition_task_runs(str(state.state_details.flow_run_id))
        rules = [e.entry for e in Ledger.from_settings(load_settings()).entries()]
        summaries = [e for e in rules if e.outcome in {"completed", "incomplete"} and e.rule]
        assert len(names) == 3 * len(summaries)  # every rule in three partition task runs
        assert all(s.outcome == "completed" and s.details["partitions"] == 3 for s in summaries)
        for s in summaries:
            parts = {k: v for k, v in s.counts.items() if k.startswith("applied:p")}
            assert sorted(parts) == ["applied:p1of3", "applied:p2of3", "applied:p3of3"]
            assert sum(parts.values()) == s.counts["applied"]
        assert sum(s.counts["applied"] for s in summaries) == outcome["applied"]
        batches = [e for e in rules if e.outcome == "applied"]
        assert batches and all(str(e.details["partition"]).endswith("of3") for e in batches)
        assert verify_ledger(Ledger.from_settings(load_settings())).ok

        again = retention_flow(policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000, partitions=3)
        assert again == {"pending": 0, "applied": 0}
    finally:
        if limit is not None:
            with get_client(sync_client=True) as client:
                client.delete_global_concurrency_limit_by_name("store:shop")


def test_the_rule_s_own_partitions_apply_without_a_flow_parameter(shop: str, tmp_path: Path) -> None:
    from flows.retention import retention_flow

    text = Path(POLICY).read_text(encoding="utf-8")
    policy = tmp_path / "partitioned.yaml"
    policy.write_text(
        text.replace("  - name: web-sessions-90d\n", "  - name: web-sessions-90d\n    partitions: 2\n"),
        encoding="utf-8",
    )
    assert "partitions: 2" in policy.read_text(encoding="utf-8")
    outcome = retention_flow(
        policy=str(policy), as_of=AS_OF, approval_threshold=1_000_000, rules=["web-sessions-90d"]
    )
    assert outcome["applied"] == outcome["pending"] > 0
    (summary,) = [
        e.entry
        for e in Ledger.from_settings(load_settings()).entries()
        if e.entry.rule == "web-sessions-90d" and e.entry.outcome == "completed"
    ]
    assert summary.details["partitions"] == 2
    engine = create_store_engine(shop)
    with engine.connect() as connection:
        labels = {
            row[0]
            for row in connection.execute(
                sa.text("SELECT body FROM lethe_journal WHERE rule = 'web-sessions-90d'")
            )
        }
    engine.dispose()
    assert labels and all('"partition":"p' in body for body in labels)


def test_a_partition_failing_once_is_retried_alone(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from sqlalchemy.exc import OperationalError

    import flows.retention as retention_module
    from lethe.retention import enforce

    failed: list[int] = []

    def fail_once(batch: int) -> None:
        # A lost connection inside the first batch of whichever partition gets there first: transient.
        if not failed:
            failed.append(batch)
            raise OperationalError("batch", {}, ConnectionError("gone"))

    monkeypatch.setattr(enforce, "_before_batch_commit", fail_once)
    fast = retention_module.enforce_partition_task.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(retention_module, "enforce_partition_task", fast)
    state = retention_module.retention_flow(
        policy=POLICY, as_of=AS_OF, approval_threshold=1_000_000, partitions=3, rules=["web-sessions-90d"],
        return_state=True,
    )  # fmt: skip
    outcome = state.result()
    assert failed == [1] and outcome["applied"] == outcome["pending"] > 0
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    attempts = sorted(r.run_count for r in runs if r.name.startswith("enforce-") and "-part" in r.name)
    assert attempts == [1, 1, 2]  # only the partition that failed ran again
    (summary,) = [
        e.entry
        for e in Ledger.from_settings(load_settings()).entries()
        if e.entry.rule == "web-sessions-90d" and e.entry.outcome == "completed"
    ]
    assert summary.counts["applied"] == outcome["applied"]
    assert verify_ledger(Ledger.from_settings(load_settings())).ok
