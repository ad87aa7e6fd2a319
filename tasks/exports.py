"""Prefect tasks for delivered exports: the clean-up that deletes them once kept long enough.

Returns counts and file names (a subject kind, a time, a random part), never a value or a credential.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from lethe.ledger.chain import Ledger
from lethe.requests.export.cleanup import clean_exports
from lethe.requests.export.destination import Destination
from lethe.settings import load_settings


@task(name="clean-exports", cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=30)
def clean_exports_task(destination: str, retention_days: int, dry_run: bool) -> dict[str, Any]:
    """Delete the exports older than ``retention_days`` (0: LETHE_EXPORT_RETENTION_DAYS) at ``destination``
    (empty: LETHE_EXPORT_DESTINATION); record it in the ledger."""
    from prefect.runtime import flow_run

    settings = load_settings()
    days = retention_days or settings.export_retention_days
    target = Destination(destination.strip() or settings.export_destination, settings.export_storage_options)
    result = clean_exports(
        target, days, ledger=None if dry_run else Ledger.from_settings(settings),
        run_id=str(flow_run.get_id() or uuid.uuid4()), dry_run=dry_run,
    )  # fmt: skip
    get_run_logger().info(
        "%s %d export(s) older than %d day(s); %d kept",
        "would delete" if dry_run else "deleted", len(result.deleted), days, result.kept,
    )  # fmt: skip
    return {
        "outcome": "dry-run" if dry_run else "completed",
        "deleted": len(result.deleted),
        "kept": result.kept,
        "bytes": result.bytes_deleted,
        "retention_days": days,
        "files": result.deleted,
    }


@task(name="publish-export-cleanup", cache_policy=NO_CACHE, persist_result=False)
def publish_cleanup_task(outcome: dict[str, Any]) -> None:
    """A Markdown artifact (fixed key ``export-cleanup``) of what the clean-up deleted."""
    lines = [
        f"## Export clean-up: {outcome['outcome']}",
        "",
        f"- **deleted**: {outcome['deleted']} file(s), {outcome['bytes']} bytes",
        f"- **kept**: {outcome['kept']} file(s) younger than {outcome['retention_days']} day(s)",
    ]
    lines += [f"  - {name}" for name in outcome["files"][:50]]
    create_markdown_artifact("\n".join(lines), key="export-cleanup", description="exports deleted")
