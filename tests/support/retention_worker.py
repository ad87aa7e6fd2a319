"""Child process of the process-level retention tests: enforce one rule, optionally dying at a chosen point.

``run(config, result_file)`` is the target of a ``multiprocessing`` process (``forkserver``: a fresh process
forked from a server that only imported this module, never from the test process with its connections).
By hand: ``python tests/support/retention_worker.py '<json config>' result.json``. The config holds:

``db_url``, ``rules`` (YAML list, as ``retention_helpers.make_policy`` takes), ``rule``, ``as_of`` (ISO 8601),
``env`` (the settings' environment), ``batch_size``, and optionally:

``crash``
    ``{"point": ..., "batch": N}``: SIGKILL this process at batch N, at ``before_commit`` (rows changed and
    journal row inserted, transaction open), ``after_commit`` (committed, not yet copied to the ledger),
    ``in_ledger_copy`` (the group copy holding batch N written in the ledger's transaction, not committed) or
    ``after_ledger_append`` (that group copy committed in the ledger, its journal rows not yet marked).
``group_seconds``
    The ledger's group-commit interval (``GROUP_COMMIT_SECONDS``); 0 (the default here) copies after every
    batch, a large value copies every batch of the rule in one group at its end.
``ready_file``, ``go_file``
    Create the first, then wait until the second exists before enforcing (so two workers start together).
``pause``
    Seconds to sleep after each batch (so two workers overlap).
``partition``
    A sealed partition (``lethe.retention.partitions.seal``, made by the test): enforce only that partition
    (``enforce_partition``, reported as a ``PartitionResult``), as a flow's partition task does.

Writes the ``RuleResult`` as JSON to ``result_file`` and exits 0; on a Lethe error writes
``{"error": class name}`` and exits with the error's exit code (6 for ConcurrentRunError); on any other
exception writes ``{"traceback": ...}`` and exits 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lethe.errors import LetheError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, RecordedEntry
from lethe.retention import enforce as retention
from lethe.retention.enforce import enforce_partition, enforce_rule
from lethe.retention.partitions import open_sealed
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from support.retention import STORE, make_policy


def die(*_args: object) -> None:
    """End this process the hard way: no cleanup, no rollback, no flush, like a power cut for the client."""
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingLedger(Ledger):
    """A ledger that kills the process in or after the group copy holding the entry of batch ``crash_batch``."""

    crash_batch: int | None = None
    inside: bool = False  # die inside the ledger transaction (before its commit), not after it

    def _holds_crash_batch(self, entries: list[LedgerEntry]) -> bool:
        return any(e.outcome == "applied" and e.details.get("batch") == self.crash_batch for e in entries)

    def _append_locked(self, conn: sa.Connection, batch: list[LedgerEntry]) -> list[RecordedEntry]:
        """Write the entries in the open transaction, then die there if this group holds the chosen batch."""
        recorded = super()._append_locked(conn, batch)
        if self.inside and self._holds_crash_batch(batch):
            die()
        return recorded

    def append_many(self, entries: Iterable[LedgerEntry]) -> list[RecordedEntry]:
        """Append (committed), then die if this group held the chosen batch."""
        batch = list(entries)
        recorded = super().append_many(batch)
        if not self.inside and self._holds_crash_batch(batch):
            die()
        return recorded


def enforce(config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Enforce the configured rule; return the exit code and what to report."""
    crash = config.get("crash") or {}
    point, at = crash.get("point"), crash.get("batch")
    if point == "before_commit":
        retention._before_batch_commit = lambda n: die() if n == at else None
    elif point == "after_commit":
        retention._after_batch_commit = lambda n: die() if n == at else None
    elif point in ("after_ledger_append", "in_ledger_copy"):
        CrashingLedger.crash_batch = at
        CrashingLedger.inside = point == "in_ledger_copy"
    elif point is not None:
        raise ValueError(f"unknown crash point {point!r}")

    retention.GROUP_COMMIT_SECONDS = float(config.get("group_seconds") or 0)
    policy = make_policy(config["db_url"], config["rules"])
    settings = load_settings(config["env"])
    pause = float(config.get("pause") or 0)

    def progress(_done: int, _total: int) -> None:
        time.sleep(pause)

    if config.get("ready_file"):
        Path(config["ready_file"]).touch()
    go_file = config.get("go_file")
    while go_file and not Path(go_file).exists():
        time.sleep(0.005)
    with Stores(policy) as stores:
        as_of = datetime.fromisoformat(config["as_of"])
        run = RetentionRun(policy, stores, settings, as_of, ledger=CrashingLedger.from_settings(settings))
        rule = policy.rule(config["rule"])
        try:
            if config.get("partition"):
                part = open_sealed(settings.require_master_key(), STORE, rule.name, config["partition"])
                done: Any = enforce_partition(
                    run, rule, part, batch_size=config["batch_size"], progress=progress
                )
            else:
                done = enforce_rule(run, rule, batch_size=config["batch_size"], progress=progress)
        except LetheError as exc:
            return exc.exit_code, {"error": type(exc).__name__}
    return 0, json.loads(json.dumps(asdict(done), default=str))


def run(config: dict[str, Any], result_file: str) -> None:
    """Process target: enforce, write the report to ``result_file`` as JSON, exit with the exit code."""
    try:
        code, report = enforce(config)
    except Exception:
        code, report = 1, {"traceback": traceback.format_exc()}
    Path(result_file).write_text(json.dumps(report), encoding="utf-8")
    sys.exit(code)


if __name__ == "__main__":
    # By hand: python tests/support/retention_worker.py '<json config>' result.json
    run(json.loads(sys.argv[1]), sys.argv[2])
