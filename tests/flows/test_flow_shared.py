"""tasks/shared.py: a flow run's tasks share one policy, one ``Stores`` and one ledger, closed when it ends.

The retention flow runs on a small demo shop under the session's Prefect harness; ``Stores`` and
``Ledger.from_settings`` are counted where tasks/shared.py opens them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task

import tasks.shared as shared
from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.stores.engines import Stores, create_store_engine
from tasks.retention import validate_policy_task
from tasks.shared import CLOSE_SHARED, open_flow_runs, release_shared, shared_resources

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

POLICY = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")


class _Opened:
    """Counts what tasks/shared.py opens and closes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stores: list[Any] = []
        self.closed = 0
        self.ledgers = 0
        self.policies = 0
        opened = self

        class CountingStores(Stores):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                opened.stores.append(self)

            def close(self) -> None:
                opened.closed += 1
                super().close()

        def counting_policy(path: str) -> Any:
            opened.policies += 1
            return load_policy(path)

        monkeypatch.setattr(shared, "Stores", CountingStores)
        monkeypatch.setattr(shared, "load_policy", counting_policy)


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> _Opened:
    """A 60-customer shop and its ledger in tmp_path; the counters."""
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
    engine.dispose()
    counting = _Opened(monkeypatch)
    # Ledger.from_settings is a classmethod: count it on the name tasks/shared.py calls.
    original = Ledger.from_settings.__func__  # type: ignore[attr-defined]

    class CountingLedger(Ledger):
        @classmethod
        def from_settings(cls, settings: Any) -> Ledger:
            counting.ledgers += 1
            return original(Ledger, settings)  # type: ignore[no-any-return]

    monkeypatch.setattr(shared, "Ledger", CountingLedger)
    return counting


def test_a_retention_run_opens_one_of_each_and_closes_them(opened: _Opened) -> None:
    from flows.retention import retention_flow

    outcome = retention_flow(policy=POLICY, as_of=DemoSpec().as_of, approval_threshold=10**9, max_share=1.0)
    assert outcome["applied"] > 0
    # 1 validation, 6 plans, the plan record, 6 enforcements and the ledger head: one of each for all of them.
    assert (len(opened.stores), opened.ledgers, opened.policies) == (1, 1, 1)
    assert opened.closed >= 1 and open_flow_runs() == set()


def test_a_failed_run_closes_too(opened: _Opened) -> None:
    from flows.retention import retention_flow

    with pytest.raises(Exception, match="unknown retention rule"):
        retention_flow(policy=POLICY, as_of=DemoSpec().as_of, rules=["no-such-rule"])
    assert len(opened.stores) == 1 and opened.closed >= 1
    assert open_flow_runs() == set()


@task(persist_result=False)
def _stores_id() -> int:
    with shared_resources(POLICY) as resources:
        return id(resources.stores)


@flow(persist_result=False, **CLOSE_SHARED)
def _two_tasks() -> tuple[int, int]:
    first = _stores_id()
    # What a paused retention run does: its connections close, what it shares stays for the next task.
    from prefect.runtime import flow_run

    release_shared(str(flow_run.get_id()))
    return first, _stores_id()


def test_runs_share_within_not_across(opened: _Opened) -> None:
    first, second = _two_tasks(), _two_tasks()
    assert first[0] == first[1] and second[0] == second[1]
    assert len(opened.stores) == 2 and opened.closed >= 4  # released once and closed once per run
    assert open_flow_runs() == set()


def test_a_task_outside_a_flow_run_opens_and_closes_its_own(opened: _Opened) -> None:
    names = validate_policy_task.fn(POLICY, [])
    assert names and len(opened.stores) == 1 and opened.closed == 1
    assert open_flow_runs() == set()
