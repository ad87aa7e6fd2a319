"""Prefect tasks around the end of a processor's contract: plan, export, delete, certify.

Tasks take and return names, counts, file names and digests only. The export's passphrase is read inside
the export task from a Secret block (or ``LETHE_CONTRACT_PASSPHRASE``), so it never travels as an argument.
Nothing is cached or persisted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lethe.errors import ParameterError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.processor.contract import (
    ContractPlan,
    certify,
    delete_controller,
    export_controller,
    plan_contract_end,
)
from lethe.requests.export.archive import ExportResult
from lethe.retention.enforce import RuleResult
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid


@contextmanager
def _contract_run(policy_path: str, run_id: str, as_of: datetime) -> Iterator[RetentionRun]:
    policy = load_policy(policy_path)
    settings = load_settings()
    with Stores(policy) as stores:
        ledger = Ledger.from_settings(settings)
        yield RetentionRun(policy, stores, settings, as_of, ledger=ledger, run_id=run_id, flow="contract_end")


@task(name="plan-contract-end", cache_policy=NO_CACHE, persist_result=False)
def plan_contract_end_task(policy_path: str, controller: str) -> ContractPlan:
    """Validate the policy and count the controller's rows per table."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        require_valid(policy, stores)
        return plan_contract_end(policy, stores, controller)


@task(name="export-controller", cache_policy=NO_CACHE, persist_result=False)
def export_controller_task(
    policy_path: str,
    plan: ContractPlan,
    out_dir: str,
    passphrase_secret: str | None,
    run_id: str,
    as_of: datetime,
) -> ExportResult:
    """Write the controller's encrypted export; fail (and so stop the flow) when it cannot."""
    passphrase = load_settings().contract_passphrase
    if passphrase_secret:
        from prefect.blocks.system import Secret

        secret: Any = Secret.load(passphrase_secret)
        passphrase = str(secret.get())
    if not passphrase:
        raise ParameterError(
            "the returned data is encrypted: set passphrase_secret or LETHE_CONTRACT_PASSPHRASE"
        )
    with _contract_run(policy_path, run_id, as_of) as run:
        assert run.ledger is not None
        return export_controller(
            run.policy,
            run.stores,
            plan,
            Path(out_dir),
            passphrase=passphrase,
            ledger=run.ledger,
            run_id=run_id,
        )


@task(name="delete-controller", cache_policy=NO_CACHE, persist_result=False)
def delete_controller_task(
    policy_path: str, plan: ContractPlan, export: ExportResult, run_id: str, as_of: datetime
) -> list[RuleResult]:
    """Delete the controller's rows in journalled batches, after checking its export."""
    with _contract_run(policy_path, run_id, as_of) as run:
        return delete_controller(run, plan, export)


@task(name="certify-deletion", cache_policy=NO_CACHE, persist_result=False)
def certify_task(
    policy_path: str,
    plan: ContractPlan,
    export: ExportResult,
    results: list[RuleResult],
    out_dir: str,
    run_id: str,
    as_of: datetime,
) -> dict[str, Any]:
    """Record the deletion certificate in the ledger and write it as a file; return it (counts and digests)."""
    with _contract_run(policy_path, run_id, as_of) as run:
        return asdict(certify(run, plan, export, results, Path(out_dir), as_of))
