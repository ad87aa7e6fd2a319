"""Prefect tasks around consent: honour withdrawals, and the report's proof that they are honoured.

Tasks take and return purposes, counts and a run id; nothing is cached or persisted. The artifact carries
the same counts, never a key.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from lethe.consent.report import consent_report
from lethe.consent.withdrawal import honour_withdrawals
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

ARTIFACT_KEY = "consent-withdrawals"


@task(name="honour-consent-withdrawals", cache_policy=NO_CACHE, persist_result=False, retries=1)
def honour_withdrawals_task(
    policy_path: str, purposes: list[str], dry_run: bool, run_id: str
) -> dict[str, Any]:
    """Erase or restrict what withdrawn consent covered (a second run finds nothing left: safe to retry)."""
    policy = load_policy(policy_path)
    settings = load_settings()
    ledger = None if dry_run else Ledger.from_settings(settings)
    with Stores(policy) as stores:
        result = honour_withdrawals(
            policy, stores, settings, ledger=ledger, run_id=run_id, purposes=purposes, dry_run=dry_run
        )
        report = consent_report(policy, stores)
    return {
        "run_id": run_id,
        "dry_run": dry_run,
        "purposes": [asdict(o) for o in result.purposes],
        "honoured": report.honoured,
    }


@task(name="publish-consent-outcome", cache_policy=NO_CACHE, persist_result=False)
def publish_withdrawals_task(outcome: dict[str, Any]) -> None:
    """The counts as a Markdown artifact."""
    lines = [
        "| purpose | action | withdrawn subjects | handled | rows | restrictions |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcome["purposes"]:
        rows = ", ".join(f"{t}: {n}" for t, n in o["rows"].items()) or "-"
        lines.append(
            f"| {o['purpose']} | {o['action']} | {o['withdrawn_subjects']} | {o['handled_subjects']} | {rows} "
            f"| {o['restricted']} |"
        )
    lines.append(f"\nWithdrawals honoured: {'yes' if outcome['honoured'] else 'NO'}")
    create_markdown_artifact("\n".join(lines), key=ARTIFACT_KEY, description="Consent withdrawals: counts")
