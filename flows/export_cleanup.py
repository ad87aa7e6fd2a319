"""Exports are personal data: delete delivered exports once they are older than the configured retention."""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from typing import Any

from prefect import flow

from tasks.exports import clean_exports_task, publish_cleanup_task


@flow(name="export-cleanup", persist_result=False, log_prints=False)
def export_cleanup_flow(
    destination: str = "", retention_days: int = 0, dry_run: bool = False
) -> dict[str, Any]:
    """Delete the exports older than the retention at the destination; record it in the ledger.

    Args:
        destination: A folder or an fsspec URL (s3://bucket/prefix); empty means LETHE_EXPORT_DESTINATION.
        retention_days: Days an export is kept; 0 means LETHE_EXPORT_RETENTION_DAYS (default 30).
        dry_run: List what would be deleted; delete and record nothing.
    """
    outcome = clean_exports_task(destination, retention_days, dry_run)
    publish_cleanup_task(outcome)
    return outcome


if __name__ == "__main__":
    export_cleanup_flow()
