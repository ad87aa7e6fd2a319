"""Exports delivered to a folder or an S3-compatible bucket (moto's server), and deleted when kept too long.

Encrypted exports reach the bucket encrypted and never touch the local disk; location, size and SHA-256
are those of the object stored. The clean-up deletes only exports older than the retention (by the time
their names carry), leaves other files alone, and records what it deleted in the ledger.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.exports import PASSPHRASE
from support.s3 import s3_bucket
from support.shop import Shop

from lethe.errors import LetheError
from lethe.requests.export.archive import export_subject
from lethe.requests.export.cleanup import clean_exports
from lethe.requests.export.crypto import MAGIC, decrypt_file
from lethe.requests.export.destination import Destination, DestinationError, exported_at

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _local_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file() and "export-" in p.name)


@SQLITE
def test_export_streams_to_s3_encrypted_and_unencrypted(shop: Shop, tmp_path: Path) -> None:
    with s3_bucket() as (endpoint, bucket, fs):
        destination = Destination(f"s3://{bucket}/exports", {"endpoint_url": endpoint})
        sealed = export_subject(
            shop.policy, shop.stores, "customer", "3", destination, settings=shop.settings,
            ledger=shop.ledger, run_id=shop.run_id(), passphrase=PASSPHRASE,
        )  # fmt: skip
        assert sealed.location == f"s3://{bucket}/exports/{sealed.file_name}"
        assert sealed.file_name.endswith(".zip.enc") and sealed.encrypted
        blob = fs.cat(f"{bucket}/exports/{sealed.file_name}")
        assert blob.startswith(MAGIC) and len(blob) == sealed.size
        assert hashlib.sha256(blob).hexdigest() == sealed.sha256
        assert sealed.due is not None and sealed.request_id is not None
        entry = shop.entries()[-1].entry
        assert entry.details["location"] == sealed.location and entry.details["sha256"] == sealed.sha256
        # It decrypts to the zip whose hash the ledger holds.
        local = tmp_path / "fetched" / sealed.file_name
        local.parent.mkdir()
        local.write_bytes(blob)
        plain = decrypt_file(local, PASSPHRASE, tmp_path / "plain")
        assert hashlib.sha256(plain.read_bytes()).hexdigest() == sealed.zip_sha256

        clear = export_subject(
            shop.policy, shop.stores, "customer", "4", destination, settings=shop.settings,
            ledger=shop.ledger, run_id=shop.run_id(),
        )  # fmt: skip
        data = fs.cat(f"{bucket}/exports/{clear.file_name}")
        assert hashlib.sha256(data).hexdigest() == clear.sha256 == clear.zip_sha256
        assert "data.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert sorted(name for name, _ in destination.exports()) == sorted(
            [sealed.file_name, clear.file_name]
        )
    # Nothing of either export was written on the local disk (only the decrypted copy made above).
    assert _local_files(tmp_path) == sorted([sealed.file_name, plain.name])


@SQLITE
def test_a_failed_upload_leaves_nothing_and_the_request_open(shop: Shop) -> None:
    with s3_bucket() as (endpoint, _bucket, fs):
        missing = Destination("s3://no-such-bucket-lethe/x", {"endpoint_url": endpoint})
        with pytest.raises(DestinationError, match="cannot write to the export destination"):
            export_subject(
                shop.policy, shop.stores, "customer", "3", missing, settings=shop.settings,
                ledger=shop.ledger, run_id=shop.run_id(),
            )  # fmt: skip
        assert [r.status for r in shop.register()] == ["open"]
        assert not fs.exists("no-such-bucket-lethe")


def _plant(destination: Destination, ages_days: list[int], now: datetime) -> list[str]:
    """Export-named files of the given ages (via the destination's own writer)."""
    names = []
    for i, age in enumerate(ages_days):
        moment = now - timedelta(days=age)
        name = f"export-customer-{moment.strftime('%Y%m%dT%H%M%SZ')}-{i:08x}.zip"
        if destination.remote:
            with destination.output(name) as out:
                out.write(b"old export")
        else:
            destination.folder.mkdir(parents=True, exist_ok=True)
            (destination.folder / name).write_bytes(b"old export")
        names.append(name)
    return names


def _check_cleanup(shop: Shop, destination: Destination, other: str) -> None:
    now = datetime.now(UTC)
    old1, old2, young = _plant(destination, [45, 31, 3], now)
    planned = clean_exports(destination, 30, ledger=shop.ledger, run_id="dry", dry_run=True)
    assert planned.deleted == [old1, old2] and len(destination.exports()) == 3
    assert shop.entries() == []  # a dry run records nothing
    with pytest.raises(LetheError, match="future instant"):
        clean_exports(destination, 30, ledger=shop.ledger, run_id="x", now=now + timedelta(days=60))

    done = clean_exports(destination, 30, ledger=shop.ledger, run_id="cleanup")
    assert done.deleted == [old1, old2] and done.kept == 1
    assert [name for name, _ in destination.exports()] == [young]
    (entry,) = [r.entry for r in shop.entries()]
    assert (entry.action, entry.outcome) == ("export.cleanup", "completed")
    assert entry.counts == {"deleted": 2, "kept": 1} and entry.details["files"] == f"{old1},{old2}"
    assert other  # the unrelated file is checked by the caller
    with pytest.raises(DestinationError, match="not a Lethe export"):
        destination.delete(other)


@SQLITE
def test_cleanup_of_a_folder(shop: Shop, tmp_path: Path) -> None:
    destination = Destination(str(tmp_path / "exports"))
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "notes.txt").write_text("not an export")
    _check_cleanup(shop, destination, "notes.txt")
    assert (tmp_path / "exports" / "notes.txt").exists()


@SQLITE
def test_cleanup_of_an_s3_prefix(shop: Shop) -> None:
    with s3_bucket() as (endpoint, bucket, fs):
        fs.pipe(f"{bucket}/exports/notes.txt", b"not an export")
        destination = Destination(f"s3://{bucket}/exports", {"endpoint_url": endpoint})
        _check_cleanup(shop, destination, "notes.txt")
        assert fs.exists(f"{bucket}/exports/notes.txt")


def test_export_names_carry_their_time() -> None:
    assert exported_at("export-customer-20261201T101112Z-0123abcd.zip.enc") == datetime(
        2026, 12, 1, 10, 11, 12, tzinfo=UTC
    )
    assert exported_at("export-customer-20261201T101112Z-0123abcd.zip.part") is None
    assert exported_at("../export-customer-20261201T101112Z-0123abcd.zip") is None
