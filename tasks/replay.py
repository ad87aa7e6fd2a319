"""Prefect tasks around the replay after a restore (``lethe.replay``): counts in, counts out, no keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from lethe.replay import replay
from lethe.validation.policy import require_valid
from tasks.shared import shared_resources


@task(name="replay-journal", cache_policy=NO_CACHE, persist_result=False)
def replay_task(
    policy_path: str, since: datetime, stores: list[str], dry_run: bool, run_id: str
) -> dict[str, Any]:
    """Re-apply the journalled changes since ``since`` to the (restored) stores; return the counts."""
    with shared_resources(policy_path) as shared:
        require_valid(shared.policy, shared.stores)
        result = replay(
            shared.policy, shared.stores, shared.settings, shared.ledger, since=since,
            store_names=stores or None, dry_run=dry_run, run_id=run_id,
        )  # fmt: skip
    get_run_logger().info(
        "replay since %s: %d journal row(s), %d row(s) %s, %d already handled",
        since.isoformat(), result.records, result.applied, "to change" if dry_run else "changed again",
        result.already,
    )  # fmt: skip
    return {"run_id": result.run_id, "dry_run": dry_run, **result.counts()}


@task(name="publish-replay", cache_policy=NO_CACHE, persist_result=False)
def publish_replay_task(counts: dict[str, Any]) -> None:
    """The replay's counts per table as a table artifact (tables and counts only)."""
    rows = [
        {
            "table": name.removeprefix("applied:"),
            "applied": n,
            "matched": counts.get(f"matched:{name[8:]}", 0),
        }
        for name, n in counts.items()
        if name.startswith("applied:")
    ]
    create_table_artifact(rows, key="replay-summary", description="Rows changed again after a restore")
