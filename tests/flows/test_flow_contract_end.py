"""The contract-end flow under a real (local, temporary) Prefect server, on a SQLite tenant store.

It returns the controller's data, deletes it and certifies it; when the export fails, the flow fails
before any deletion. Prefect's database holds no personal value afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_database
from support.processor import processor_policy_text, seed_tenants, tenants_left
from support.retention import AS_OF, LEDGER_KEY_HEX, MASTER_KEY_HEX, snapshot

from lethe.ledger.chain import Ledger
from lethe.settings import load_settings

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture
def tenant_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> Iterator[tuple[str, sa.Engine]]:
    """A seeded tenant store in SQLite and its policy file; keys, ledger and passphrase in the environment."""
    url = f"sqlite:///{tmp_path}/tenants.db"
    engine = sa.create_engine(url)
    seed_tenants(engine, AS_OF)
    policy = tmp_path / "policy.yaml"
    policy.write_text(processor_policy_text(), encoding="utf-8")
    for name, value in {
        "DB_URL": url,
        "LETHE_MASTER_KEY": MASTER_KEY_HEX,
        "LETHE_LEDGER_KEY": LEDGER_KEY_HEX,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
        "LETHE_CONTRACT_PASSPHRASE": "correct horse battery staple",
    }.items():
        monkeypatch.setenv(name, value)
    yield str(policy), engine
    engine.dispose()


def test_the_flow_returns_deletes_and_certifies(
    tenant_store: tuple[str, sa.Engine], tmp_path: Path, prefect_server: str
) -> None:
    from flows.contract_end import contract_end_flow

    policy, engine = tenant_store
    outcome = contract_end_flow(controller="globex", policy=policy, out_dir=str(tmp_path / "out"))
    assert outcome["certificate"]["deleted_rows"] == {"db.events": 4, "db.accounts": 2}
    assert tenants_left(engine) == {"acme": 2, "umbrella": 2}
    actions = [
        e.entry.action
        for e in Ledger.from_settings(load_settings()).entries()
        if e.entry.outcome != "applied"
    ]
    assert actions[0] == "processor.export" and actions[-1] == "processor.certificate"
    dump = dump_database(prefect_server)
    assert "@example.com" not in dump  # the tenants' emails never reach Prefect


def test_a_failed_export_fails_the_flow_before_any_deletion(
    tenant_store: tuple[str, sa.Engine], tmp_path: Path
) -> None:
    from flows.contract_end import contract_end_flow

    policy, engine = tenant_store
    before = snapshot(engine)
    blocked = tmp_path / "a-file"
    blocked.write_text("x", encoding="utf-8")
    with pytest.raises(Exception, match="cannot write the export"):
        contract_end_flow(controller="acme", policy=policy, out_dir=str(blocked / "sub"))
    assert snapshot(engine) == before
    assert [e.entry.action for e in Ledger.from_settings(load_settings()).entries()] == []
