"""Consent withdrawal (GDPR Art. 7(3)): erase or restrict the data processed only under withdrawn consent.

Takes no identifier: it acts on every subject whose consent for a purpose is withdrawn, as the consent table
records it, so nothing personal reaches Prefect. Schedule it (e.g. hourly) or run it after the application
records a withdrawal.
"""

# No `from __future__ import annotations` here: Prefect builds the parameter form from evaluated hints.
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from tasks.consent import honour_withdrawals_task, publish_withdrawals_task


@flow(name="consent-withdrawal", persist_result=False, log_prints=False)
def consent_withdrawal_flow(
    policy: str = "config/demo.yaml", purposes: list[str] | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Honour every withdrawn consent as the policy's `consent:` block says; record it in the ledger.

    Args:
        policy: Path of the policy file, relative to the worker's working directory.
        purposes: Only these purposes; empty means every purpose the policy declares.
        dry_run: Count what would change; change nothing and record nothing.
    """
    run_id = flow_run.get_id() or f"local-{datetime.now(UTC).isoformat()}"
    outcome = honour_withdrawals_task(policy, purposes or [], dry_run, run_id)
    publish_withdrawals_task(outcome)
    return outcome


if __name__ == "__main__":
    consent_withdrawal_flow()
