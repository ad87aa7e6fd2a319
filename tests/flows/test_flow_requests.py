"""Data-subject request flows under a real Prefect server; nothing personal may reach Prefect but parameters.

Export, erasure (dry run, then for real), rectification and restriction run as flows against a small demo
shop. Afterwards Prefect's whole database, except the flow runs' own parameters (where the privacy officer
typed the identifier), and the captured logs are searched for the identifier and the subject's values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_without_parameters

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
    exported = export_flow(subject_id=shop["email"], policy=POLICY, out_dir=shop["dir"])
    assert exported["outcome"] == "completed" and exported["rows"]["shop.customers"] == 1
    assert shop["email"] not in exported["file"]

    restricted = restriction_flow(
        subject_id=shop["email"],
        ground="direct-marketing",
        activities=["newsletter"],
        objection=True,
        policy=POLICY,
    )
    assert restricted["outcome"] == "completed"

    new_name = "Corrected Name-Zyx"
    rectified = rectification_flow(
        subject_id=shop["email"], changes=[ColumnChange(column="full_name", value=new_name)], policy=POLICY
    )
    assert rectified["outcome"] == "completed" and rectified["columns"] == ["full_name"]
    assert _customer(shop["url"], 5).full_name == new_name

    planned = erasure_flow(subject_id="5", policy=POLICY, dry_run=True)
    assert planned["outcome"] == "dry-run" or planned["outcome"] == "planned"
    assert _customer(shop["url"], 5).email == shop["email"]
    erased = erasure_flow(subject_id="5", policy=POLICY, dry_run=False)
    assert erased["outcome"] == "completed" and erased["verified"] is True
    assert _customer(shop["url"], 5).email.startswith("~h1:")

    missing = export_flow(subject_id="nobody-here@example.invalid", policy=POLICY, out_dir=shop["dir"])
    assert missing["outcome"] == "not-found"

    dump = dump_without_parameters(prefect_server)
    assert "request-export" in dump  # the artifacts were written, so the search below saw them
    for value in (shop["email"], shop["name"], new_name, "nobody-here@example.invalid"):
        assert value not in dump, "a personal value reached Prefect's database"
        assert value not in caplog.text, "a personal value reached the logs"
    if shop["phone"]:
        assert shop["phone"] not in dump


def test_a_blank_identifier_is_refused_before_any_work(shop: dict[str, str]) -> None:
    from flows.export import export_flow

    with pytest.raises(Exception, match=r"blank|at least 1 character"):
        export_flow(subject_id="   ", policy=POLICY, out_dir=shop["dir"])
    assert not list(Path(shop["dir"]).glob("*.zip"))
