"""Exports delivered and recipients told, as flows under a real Prefect server.

The export flow, as the UI starts it (defaults), encrypts with the passphrase of the Secret block and streams
to an S3-compatible bucket (moto's server); its artifact shows location, size, SHA-256, due date and expiry.
Turned off, encryption leaves a visible warning. The clean-up flow deletes exports past their retention. The
erasure flow, on a policy with recipients, tells them (an outbox row in the shop) and says so in its outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.exports import PASSPHRASE
from support.s3 import s3_bucket

from lethe.demo.seed import DemoSpec, seed
from lethe.requests.export.crypto import MAGIC
from lethe.stores.engines import create_store_engine

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
RECIPIENTS = """
recipients:
  warehouse:
    categories: [user.contact.address.street]
    channel: outbox
    outbox: shop.recipient_outbox
"""


@pytest.fixture
def bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> Iterator[tuple[str, Any, str]]:
    """A 30-customer shop, exports going to a fresh bucket; yields (bucket, its filesystem, an email)."""
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=30))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET legal_hold = false"))
        email = connection.execute(sa.text("SELECT email FROM customers WHERE id = 4")).scalar_one()
    engine.dispose()
    with s3_bucket() as (endpoint, name, fs):
        for key, value in {
            "LETHE_DEMO_URL": url, "LETHE_MASTER_KEY": "ab" * 32, "LETHE_LEDGER_KEY": "cd" * 32,
            "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db", "LETHE_HOME": str(tmp_path / "home"),
            "LETHE_EXPORT_DESTINATION": f"s3://{name}/exports", "LETHE_EXPORT_ENDPOINT_URL": endpoint,
        }.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        yield name, fs, str(email)


def _artifact_markdown(key: str) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (latest,) = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return str(latest.data)


def test_export_encrypted_to_s3_by_default_and_cleaned_up(
    bucket: tuple[str, Any, str], tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret

    from flows.export import export_flow
    from flows.export_cleanup import export_cleanup_flow

    name, fs, email = bucket
    Secret(value=PASSPHRASE).save("lethe-export-passphrase", overwrite=True)
    state = export_flow(subject_id=email, policy=str(DEMO), return_state=True)
    outcome = state.result()
    assert state.name == "Exported" and outcome["encrypted"] is True and "warning" not in outcome
    assert outcome["location"] == f"s3://{name}/exports/{outcome['file']}"
    blob = fs.cat(outcome["location"].removeprefix("s3://"))
    assert blob.startswith(MAGIC) and hashlib.sha256(blob).hexdigest() == outcome["sha256"]
    assert outcome["bytes"] == len(blob)
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert outcome["expires"] == expires and outcome["due"]
    card = _artifact_markdown(f"export-{outcome['request']}")
    for shown in (outcome["location"], outcome["sha256"], str(outcome["bytes"]), outcome["due"], expires):
        assert shown in card
    assert not list(tmp_path.rglob("export-*")), "an export touched the local disk"

    clear = export_flow(subject_id=email, policy=str(DEMO), encrypt=False, return_state=True)
    assert clear.name == "Exported" and "NOT ENCRYPTED" in (clear.message or "")
    assert "Warning: NOT ENCRYPTED" in _artifact_markdown(f"export-{clear.result()['request']}")

    old = f"export-customer-{(datetime.now(UTC) - timedelta(days=31)):%Y%m%dT%H%M%SZ}-0000abcd.zip"
    fs.pipe(f"{name}/exports/{old}", b"an old export")
    cleaned = export_cleanup_flow()
    assert (cleaned["deleted"], cleaned["kept"], cleaned["files"]) == (1, 2, [old])
    assert not fs.exists(f"{name}/exports/{old}") and fs.exists(outcome["location"].removeprefix("s3://"))
    assert old in _artifact_markdown("export-cleanup")


def test_erasure_flow_tells_the_recipients(bucket: tuple[str, Any, str], tmp_path: Path) -> None:
    from flows.erasure import erasure_flow

    _name, _fs, email = bucket
    policy = tmp_path / "with-recipients.yaml"
    policy.write_text(DEMO.read_text() + RECIPIENTS)
    erased = erasure_flow(subject_id=email, policy=str(policy), dry_run=False, return_state=True)
    assert erased.name == "Erased"
    assert erased.result()["recipients"] == {"warehouse": "outbox: queued"}
    engine = create_store_engine(f"sqlite:///{tmp_path}/shop.db")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT recipient, request_id FROM recipient_outbox")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("warehouse", erased.result()["request"])]
