"""Prefect task telling recipients of an erasure, rectification or restriction (GDPR Art. 19).

Returns each recipient's name and how it was told; the ledger holds the counts. Never a value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.requests.recipients import notify_recipients, touched_tables
from lethe.settings import load_settings
from lethe.stores.engines import Stores

# The outcomes after which data was changed and recipients must be told.
CHANGED = {"erasure": {"completed"}, "rectification": {"completed"}, "restriction": {"completed"}}


@task(name="notify-recipients", cache_policy=NO_CACHE, persist_result=False)
def notify_recipients_task(
    policy_path: str, kind: str, subject: str, outcome: Mapping[str, Any]
) -> dict[str, str]:
    """Tell the recipients the request concerns (when it changed data); return {recipient: how told}."""
    from prefect.runtime import flow_run

    if outcome.get("outcome") not in CHANGED.get(kind, set()):
        return {}
    policy = load_policy(policy_path)
    if not policy.recipients:
        return {}
    settings = load_settings()
    with Stores(policy) as stores:
        notes = notify_recipients(
            policy, stores, kind, touched_tables(policy, kind, subject, outcome),
            request_id=outcome.get("request"), ledger=Ledger.from_settings(settings),
            run_id=str(flow_run.get_id() or uuid.uuid4()),
        )  # fmt: skip
    for note in notes:
        if note.outcome == "failed":
            get_run_logger().warning(
                "recipient %s not told (%s): retry or tell by hand", note.recipient, note.reason
            )
    return {note.recipient: f"{note.channel}: {note.outcome}" for note in notes}
