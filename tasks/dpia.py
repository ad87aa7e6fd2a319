"""Prefect tasks around the DPIA checks: run them and write the report, publish it, notify on findings.

Tasks take and return names, counts, check ids and file paths only; nothing is cached or persisted
(``cache_policy=NO_CACHE``, ``persist_result=False``). The event carries counts and check ids, no value.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from lethe.dpia.checks import run_checks, summary
from lethe.dpia.report import write_report
from tasks.shared import shared_resources

FAILED_EVENT = "lethe.dpia.check.failed"
ARTIFACT_KEY = "dpia-report"


@task(name="dpia-checks", cache_policy=NO_CACHE, persist_result=False)
def dpia_checks_task(policy_path: str, out_dir: str, as_of: datetime, run_id: str) -> dict[str, Any]:
    """Run every check, record the run in the ledger (when its key is set), write the report; return counts."""
    with shared_resources(policy_path) as shared:
        policy, settings = shared.policy, shared.settings
        ledger = shared.ledger if settings.ledger_key is not None else None
        if ledger is None:
            get_run_logger().warning("LETHE_LEDGER_KEY is not set: the run is not recorded in the ledger")
        run = run_checks(
            policy, shared.stores, settings, as_of=as_of, ledger=ledger, run_id=run_id, flow="dpia"
        )
        files = write_report(run, policy, out_dir, ledger=ledger)
    for result in run.results:
        if result.status != "pass":
            get_run_logger().warning("%s: %s %s", result.id, result.status, result.error or "")
    return {
        **summary(run),
        "policy_hash": run.policy_hash,
        "report": {"html": str(files.html), "json": str(files.json), "markdown": str(files.markdown)},
    }


@task(name="publish-dpia-report", cache_policy=NO_CACHE, persist_result=False)
def publish_report_task(markdown_path: str) -> None:
    """The report's Markdown as an artifact (counts and check ids only)."""
    create_markdown_artifact(
        Path(markdown_path).read_text(encoding="utf-8"),
        key=ARTIFACT_KEY,
        description="DPIA checks: status, risk register, every check's counts",
    )


@task(name="notify-dpia-findings", cache_policy=NO_CACHE, persist_result=False)
def emit_failed_event_task(policy_hash: str, failed: int, errors: int, checks: list[str]) -> bool:
    """Emit ``lethe.dpia.check.failed`` for automations to act on; True when the event was sent."""
    event = emit_event(
        event=FAILED_EVENT,
        resource={
            "prefect.resource.id": f"lethe.policy.{policy_hash[:12]}",
            "prefect.resource.name": "lethe",
        },
        payload={"failed": failed, "errors": errors, "checks": checks},
    )
    return event is not None
