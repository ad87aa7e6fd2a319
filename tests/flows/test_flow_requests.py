"""Data-subject request flows under a real Prefect server; nothing personal may stay in Prefect.

Export, erasure (dry run, then for real by the request's reference), rectification and restriction run as
flows against a small demo shop, each ending in its named state. Afterwards Prefect's whole database, the
flow runs' parameters included (D-2: the identifier typed is replaced by the request's reference), and the
captured logs are searched for the identifier and the subject's values.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_database

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

POLICY = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> dict[str, str]:
    """A 40-customer shop; returns the store URL and customer 5's identifying values."""
    url = f"sqlite:///{tmp_path}/shop.db"
    for name, value in {
        "LETHE_DEMO_URL": url,
        "LETHE_MASTER_KEY": "ab" * 32,
        "LETHE_LEDGER_KEY": "cd" * 32,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
    }.items():
        monkeypatch.setenv(name, value)
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=40))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET legal_hold = false WHERE id = 5"))
        connection.execute(sa.text("UPDATE customers SET legal_hold = true WHERE id = 7"))
        row = connection.execute(sa.text("SELECT email, full_name, phone FROM customers WHERE id = 5")).one()
    engine.dispose()
    return {
        "url": url,
        "email": row.email,
        "name": row.full_name,
        "phone": row.phone or "",
        "dir": str(tmp_path),
    }


def _customer(url: str, key: int) -> sa.Row[tuple[str, str]]:
    engine = create_store_engine(url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT email, full_name FROM customers WHERE id = :k"), {"k": key}
        ).one()
    engine.dispose()
    return row


def test_request_flows_answer_and_leak_nothing(
    shop: dict[str, str],
    prefect_server: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows.erasure import erasure_flow
    from flows.export import export_flow
    from flows.rectification import ColumnChange, rectification_flow
    from flows.restriction import restriction_flow

    caplog.set_level(logging.DEBUG)
    exported = export_flow(
        subject_id=shop["email"], policy=POLICY, out_dir=shop["dir"], encrypt=False, return_state=True
    )
    assert exported.name == "Exported"
    assert "NOT ENCRYPTED" in (exported.message or "") and "NOT ENCRYPTED" in exported.result()["warning"]
    assert exported.result()["location"].endswith(exported.result()["file"])
    assert exported.result()["rows"]["shop.customers"] == 1
    assert shop["email"] not in exported.result()["file"]

    restricted = restriction_flow(
        subject_id=shop["email"], ground="direct-marketing", activities=["newsletter"], objection=True,
        policy=POLICY, return_state=True,
    )  # fmt: skip
    assert restricted.name == "Restricted"

    new_name = "Corrected Name-Zyx"
    rectified = rectification_flow(
        subject_id=shop["email"], changes=[ColumnChange(column="full_name", value=new_name)], policy=POLICY,
        return_state=True,
    )  # fmt: skip
    assert rectified.name == "Rectified" and rectified.result()["columns"] == ["full_name"]
    assert _customer(shop["url"], 5).full_name == new_name

    planned = erasure_flow(subject_id=shop["email"], policy=POLICY, dry_run=True, return_state=True)
    assert (planned.type.value, planned.name) == ("COMPLETED", "Dry run")
    assert _customer(shop["url"], 5).email == shop["email"]
    reference = planned.result()["request"]
    # The real erasure continues the dry run's request by its reference alone (D-2).
    erased = erasure_flow(request_id=reference, policy=POLICY, dry_run=False, return_state=True)
    assert erased.name == "Erased" and erased.result()["verified"] is True
    assert erased.result()["request"] == reference
    assert _customer(shop["url"], 5).email.startswith("~h1:")

    missing = export_flow(
        subject_id="nobody-here@example.invalid",
        policy=POLICY,
        out_dir=shop["dir"],
        encrypt=False,
        return_state=True,
    )
    assert missing.name == "Not found"

    held = erasure_flow(subject_id="7", policy=POLICY, dry_run=False, return_state=True)
    assert held.name == "Refused: legal hold"

    runs = _request_runs()
    assert f"erasure-{reference}" in {run.name for run in runs}
    assert [run.parameters.get("subject_id") for run in runs] == [""] * len(runs)

    dump = dump_database(prefect_server)
    # The artifacts were written, one key per request, so the search below saw them.
    assert f"export-{exported.result()['request']}" in dump and f"erasure-{reference}" in dump
    for value in (shop["email"], shop["name"], new_name, "nobody-here@example.invalid"):
        assert value not in dump, "a personal value reached Prefect's database"
        assert value not in caplog.text, "a personal value reached the logs"
    if shop["phone"]:
        assert shop["phone"] not in dump


def _request_runs() -> list[Any]:
    """The request flows' runs in the Prefect server."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        requests = [flow.id for flow in client.read_flows() if flow.name.startswith("subject-")]
        return [run for run in client.read_flow_runs() if run.flow_id in requests]


def test_a_blank_identifier_is_refused_before_any_work(shop: dict[str, str]) -> None:
    from flows.export import export_flow

    with pytest.raises(Exception, match=r"give subject_id .* or request_id"):
        export_flow(subject_id="   ", policy=POLICY, out_dir=shop["dir"])
    assert not list(Path(shop["dir"]).glob("*.zip"))
