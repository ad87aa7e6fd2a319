"""The erasure flow with a queue (``subject_ids``) under a real Prefect server.

Three customers are named, one of them on legal hold and one unknown: the flow erases the others, refuses
those two alone, returns counts and per position an outcome and a fingerprint, and leaves no identifier in
Prefect's database (outside the flow run's own parameters) or in the logs. A malformed queue is refused
before anything changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.prefect_state import dump_database

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

POLICY = str(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")
MISSING = "nobody-queued@example.invalid"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> dict[str, object]:
    """A 40-customer shop: the URL, and the emails of customers 5 and 6 (no hold) and 7 (on hold)."""
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
        connection.execute(sa.text("UPDATE customers SET legal_hold = (id = 7) WHERE id IN (5, 6, 7)"))
        emails = dict(
            connection.execute(sa.text("SELECT id, email FROM customers WHERE id IN (5, 6, 7)")).all()
        )
    engine.dispose()
    return {"url": url, "emails": emails}


def _emails(url: str) -> dict[int, str]:
    engine = create_store_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, email FROM customers WHERE id IN (5, 6, 7)")).all()
    engine.dispose()
    return {int(k): str(v) for k, v in rows}


def test_the_erasure_flow_works_through_a_queue_and_leaks_nothing(
    shop: dict[str, object], prefect_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.erasure import erasure_flow

    caplog.set_level(logging.DEBUG)
    emails: dict[int, str] = shop["emails"]  # type: ignore[assignment]
    queue = [emails[5], emails[7], MISSING, emails[6]]

    outcome = erasure_flow(subject_ids=queue, policy=POLICY, dry_run=False)

    assert outcome["outcome"] == "partial" and outcome["subjects"] == 4
    assert outcome["counts"] == {"blocked": 1, "completed": 2, "not-found": 1}
    assert [v.split()[0] for v in outcome["queue"].values()] == [
        "completed",
        "blocked",
        "not-found",
        "completed",
    ]
    after = _emails(str(shop["url"]))
    assert after[5].startswith("~h1:") and after[6].startswith("~h1:") and after[7] == emails[7]
    dump = dump_database(prefect_server)
    for value in (*emails.values(), MISSING):
        assert value not in dump, "an identifier reached Prefect's database (parameters included: D-2)"
        assert value not in caplog.text, "an identifier reached the logs"


def test_a_malformed_queue_is_refused_before_any_work(shop: dict[str, object]) -> None:
    from flows.erasure import erasure_flow

    emails: dict[int, str] = shop["emails"]  # type: ignore[assignment]
    with pytest.raises(Exception, match="earlier line"):
        erasure_flow(subject_ids=[emails[5], emails[5]], policy=POLICY, dry_run=False)
    with pytest.raises(Exception, match="instead of subject_id"):
        erasure_flow(subject_id=emails[5], subject_ids=[emails[6]], policy=POLICY, dry_run=False)
    assert _emails(str(shop["url"])) == emails
