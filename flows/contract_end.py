"""The end of a processor's contract with one controller (Art. 28(3)(g)): return its data, delete it, certify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from tasks.processor import (
    certify_task,
    delete_controller_task,
    export_controller_task,
    plan_contract_end_task,
)


@flow(name="contract-end", persist_result=False, log_prints=False)
def contract_end_flow(
    controller: str,
    policy: str = "config/demo.yaml",
    out_dir: str = "var/contract-end",
    passphrase_secret: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Return all of one controller's data as an encrypted export, then delete it, then certify the deletion.

    Args:
        controller: The controller, as named under processor.controllers in the policy.
        policy: Path of the policy file, relative to the worker's working directory.
        out_dir: Folder on the worker for the encrypted export and the certificate.
        passphrase_secret: Name of a Prefect Secret block holding the export's passphrase; empty means the
            worker's LETHE_CONTRACT_PASSPHRASE.
        dry_run: Only count the controller's rows per table; change nothing.
    """
    started = datetime.now(UTC)
    run_id = flow_run.get_id() or f"local-{started.isoformat()}"
    plan = plan_contract_end_task(policy, controller)
    if dry_run:
        return {"controller": controller, "tables": plan.counts, "dry_run": True}
    # Each step fails the flow before the next: no deletion without the export, no certificate without both.
    export = export_controller_task(policy, plan, out_dir, passphrase_secret, run_id, started)
    results = delete_controller_task(policy, plan, export, run_id, started)
    certificate = certify_task(policy, plan, export, results, out_dir, run_id, started)
    return {"controller": controller, "tables": plan.counts, "certificate": certificate}
