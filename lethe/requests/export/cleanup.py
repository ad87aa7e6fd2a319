"""Deleting delivered exports once they have been kept long enough (exports are personal data).

An export older than the retention (``LETHE_EXPORT_RETENTION_DAYS``; its age read from its file name,
``lethe.requests.export.destination.exported_at``) is deleted from the destination, a folder or an fsspec
URL. The ledger gets one entry per clean-up: how many files were deleted and kept, their names (a subject
kind, a time and a random part: nothing personal) and the destination's scheme, never its credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lethe.errors import LetheError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.requests.export.destination import Destination, exported_at

# The names of the files deleted go into one ledger detail: at most this many characters of them.
_NAMES_LIMIT = 400


@dataclass(frozen=True)
class CleanupResult:
    """What a clean-up deleted (or, in a dry run, would delete) and how many exports it kept."""

    deleted: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_deleted: int = 0
    dry_run: bool = False


def clean_exports(
    destination: Destination,
    retention_days: int,
    *,
    ledger: Ledger | None,
    run_id: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanupResult:
    """Delete the exports at ``destination`` older than ``retention_days``; record it in ``ledger``."""
    if retention_days < 1:
        raise LetheError("the export retention must be at least one day")
    started = datetime.now(UTC)
    moment = (now or started).astimezone(UTC)
    if moment > started + timedelta(minutes=5):
        raise LetheError("refusing a clean-up at a future instant: it would delete exports still kept")
    cutoff = moment - timedelta(days=retention_days)
    old, kept, size = [], 0, 0
    for name, length in destination.exports():
        written = exported_at(name)
        if written is not None and written < cutoff:
            old.append(name)
            size += length
        else:
            kept += 1
    deleted: list[str] = []
    try:
        for name in old:
            if not dry_run:
                destination.delete(name)
            deleted.append(name)
    finally:
        # Recorded even when a deletion failed midway: the files already gone must be on the record.
        if ledger is not None and not dry_run:
            names = ",".join(deleted)
            ledger.append(
                LedgerEntry(
                    run_id=run_id, flow="export-cleanup", policy_hash="", action="export.cleanup",
                    outcome="completed" if len(deleted) == len(old) else "failed", started_at=started,
                    ended_at=datetime.now(UTC), counts={"deleted": len(deleted), "kept": kept},
                    details={
                        "retention_days": retention_days, "cutoff": cutoff.isoformat(),
                        "destination": destination.target.split("://")[0] if destination.remote else "folder",
                        "files": names if len(names) <= _NAMES_LIMIT else names[:_NAMES_LIMIT] + "...",
                        "bytes": size,
                    },
                )
            )  # fmt: skip
    return CleanupResult(deleted, kept, size, dry_run)
