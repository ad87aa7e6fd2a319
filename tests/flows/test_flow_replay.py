"""The replay flow under a real (local, temporary) Prefect server: after a restore of a demo shop (SQLite), it
re-applies retention, publishes counts, and Prefect's database holds no personal value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_database
from support.restore import backup, data_hash, restore

from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores, create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

POLICY = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")


def test_replay_flow_restores_the_state_and_leaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    from flows.replay import replay_flow

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
    with engine.connect() as connection:
        values = [
            v for row in connection.execute(sa.text("SELECT email, full_name FROM customers")) for v in row
        ]
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(engine)
    policy, settings = load_policy(POLICY), load_settings()
    ledger = Ledger.from_settings(settings)
    with Stores(policy) as stores:
        run = RetentionRun(policy, stores, settings, DemoSpec().as_of, ledger=ledger)
        applied = sum(enforce_rule(run, rule).applied for rule in run.rules())
    ledger._engine.dispose()
    before = data_hash(engine)
    restore(engine, snapshot)

    planned = replay_flow(since=since, policy=POLICY, dry_run=True)
    assert planned["applied"] == applied and data_hash(engine) != before
    outcome = replay_flow(since=since, policy=POLICY)
    assert outcome["applied"] == applied and outcome["dry_run"] is False
    assert data_hash(engine) == before
    engine.dispose()
    dump = dump_database(prefect_server)
    assert "replay-summary" in dump
    for value in values:
        assert value not in dump
