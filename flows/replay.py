"""The replay flow: after restoring a store from a backup, re-apply what Lethe changed since the backup.

Run it once the restore is done, with ``since`` the instant the backup was taken: every erasure and
retention delete or anonymisation journalled since then (their leaves kept in the ledger database's
``lethe_leaves``) is made again to the restored rows, journalled and recorded (``lethe.replay``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from tasks.replay import publish_replay_task, replay_task
from tasks.shared import CLOSE_SHARED


@flow(name="replay", persist_result=False, log_prints=False, **CLOSE_SHARED)
def replay_flow(
    since: datetime, policy: str = "config/demo.yaml", stores: list[str] | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Re-apply journalled erasures and retention changes made since ``since`` to restored stores.

    Args:
        since: When the restored backup was taken (with a time zone); not in the future.
        policy: Path of the policy file, relative to the worker's working directory.
        stores: Only these stores; empty means every store of the policy.
        dry_run: Count what would be changed again; change nothing.
    """
    if since.tzinfo is None:
        raise ValueError("since needs a time zone, e.g. 2026-11-25T02:00:00+01:00")
    run_id = flow_run.get_id() or f"local-{datetime.now(UTC).isoformat()}"
    counts = replay_task(policy, since, stores or [], dry_run, run_id)
    publish_replay_task(counts)
    return counts


if __name__ == "__main__":
    replay_flow(datetime.now(UTC))
