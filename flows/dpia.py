"""The DPIA flow: run the checks in the stores' databases, write the report, publish it, notify on findings.

The flow COMPLETES when checks fail or error: the assessment itself ran, and its findings are data, not a
crash. It returns the statuses, publishes the Markdown report as the ``dpia-report`` artifact and, when any
check failed or errored, emits the event ``lethe.dpia.check.failed`` that an automation turns into a
notification (docs/dpia.md). Anything that stops the checks from running at all (an unreadable policy, a
missing report folder permission) fails the flow as usual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.dpia import dpia_checks_task, emit_failed_event_task, publish_report_task
from tasks.forms import Instant, parse_instant
from tasks.shared import CLOSE_SHARED


@flow(name="dpia", persist_result=False, log_prints=False, **CLOSE_SHARED)
def dpia_flow(
    policy: str = "config/demo.yaml", out_dir: str = "var/dpia", as_of: Instant = ""
) -> dict[str, Any]:
    """Check the policy's data obligations in the databases and write the DPIA report.

    Args:
        policy: Path of the policy file, relative to the worker's working directory.
        out_dir: Folder the report (dpia.html, dpia.json, dpia.md) is written to; created when missing.
        as_of: Instant at which retention is judged (with a time zone); empty means now.
    """
    started = datetime.now(UTC)
    moment = parse_instant(as_of, "as_of") or started
    run_id = flow_run.get_id() or f"local-{started.isoformat()}"
    outcome = dpia_checks_task(policy, out_dir, moment, run_id)
    publish_report_task(outcome["report"]["markdown"])
    findings = sorted(check for check, status in outcome["checks"].items() if status != "pass")
    if findings or outcome["status"] != "pass":
        sent = emit_failed_event_task(outcome["policy_hash"], outcome["failed"], outcome["errors"], findings)
        get_run_logger().warning(
            "DPIA: %d failed, %d errors (%s of %s evaluated); event %s",
            outcome["failed"], outcome["errors"], outcome["evaluated"], outcome["expected"],
            "emitted" if sent else "not emitted (no events client)",
        )  # fmt: skip
    return {
        k: outcome[k] for k in ("status", "passed", "failed", "errors", "evaluated", "expected", "checks")
    }


if __name__ == "__main__":
    dpia_flow()
