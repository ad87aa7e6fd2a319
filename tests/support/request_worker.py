"""Child process of the process-level request tests: erase or rectify one subject of the demo shop, optionally
dying at a chosen point.

``run(config, result_file)`` is the target of a ``multiprocessing`` process (``forkserver``, as in
``retention_worker``). The config holds ``db_url`` (the demo shop, policy config/demo.yaml), ``env`` (the
settings' environment), ``action`` (``erase``, ``erase_queue`` or ``rectify``), ``identifier`` (``identifiers``
for a queue), ``changes`` (rectify only) and optionally ``crash``: ``before_commit`` (the change made and
journalled, its transaction open) or ``after_commit`` (committed, not yet copied to the ledger; in a queue at
the ``crash_at``-th subject's commit, default the first), where the process SIGKILLs itself.

Writes ``{"outcome": ...}`` to ``result_file`` and exits 0; on a Lethe error writes ``{"error": class name}``
and exits with its exit code; on any other exception writes ``{"traceback": ...}`` and exits 1.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from lethe.errors import LetheError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.requests.erasure.erase import erase_subject
from lethe.requests.erasure.queue import erase_queue
from lethe.requests.rectification import rectify_subject
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from support.retention_worker import die

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def handle(config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Carry out the configured request; return the exit code and what to report."""
    crash = config.get("crash")
    # Imported here: a test module that imports this worker must load even where the hooks do not exist.
    from lethe.requests import evidence as requests_journal

    commits = iter(range(1, 1_000_000))
    crash_at = int(config.get("crash_at", 1))  # in a queue: die at this subject's commit

    def after_commit(_flow: str) -> None:
        if next(commits) == crash_at:
            die()

    if crash == "before_commit":
        requests_journal._before_commit = lambda _flow: die()
    elif crash == "after_commit":
        requests_journal._after_commit = after_commit
    elif crash is not None:
        raise ValueError(f"unknown crash point {crash!r}")
    policy = parse_policy(DEMO.read_text(), source="demo.yaml", environ={"LETHE_DEMO_URL": config["db_url"]})
    settings = load_settings(config["env"])
    ledger = Ledger.from_settings(settings)
    try:
        with Stores(policy) as stores:
            common: dict[str, Any] = {"ledger": ledger, "run_id": "crashing-run"}
            if config["action"] == "erase_queue":  # group copies only at the end: the kill comes first
                summary = erase_queue(
                    policy, stores, settings, "customer", config["identifiers"], every=3600.0, **common
                )
                return summary.exit_code, {"outcome": summary.counts}
            if config["action"] == "erase":
                receipt = erase_subject(policy, stores, settings, "customer", config["identifier"], **common)
                return 0, {"outcome": receipt.outcome}
            result = rectify_subject(
                policy, stores, settings, "customer", config["identifier"], config["changes"], **common
            )
            return 0, {"outcome": result.outcome}
    except LetheError as exc:
        return exc.exit_code, {"error": type(exc).__name__}
    finally:
        ledger._engine.dispose()


def run(config: dict[str, Any], result_file: str) -> None:
    """Process target: handle the request, write the report to ``result_file`` as JSON, exit with its code."""
    try:
        code, report = handle(config)
    except Exception:
        code, report = 1, {"traceback": traceback.format_exc()}
    Path(result_file).write_text(json.dumps(report), encoding="utf-8")
    sys.exit(code)
