"""Child processes for crash tests: a forkserver context that starts them fast, and a handle on one."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

# A forkserver imports Lethe, SQLAlchemy and the drivers once; each child is then forked from that clean
# server (never from this process and its connections) in milliseconds, instead of paying a second of
# imports. The main module (pytest's) is preloaded too, as every child would otherwise run it again. Not
# the workers themselves: Python 3.11's forkserver does not put tests/ on its path (children do).
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(
    [
        "__main__",
        "pytest",
        "psycopg",
        "pymysql",
        "lethe.retention.enforce",
        "lethe.policy.loading",
        "lethe.validation.policy",
    ]
)


@dataclass
class Worker:
    """A child process enforcing ``RULE`` and the file it reports to."""

    process: BaseProcess
    report: Path

    def finish(self) -> tuple[int, dict[str, Any] | None]:
        """Wait for the child: (exit code, negative for a signal; its report, or None when it died)."""
        self.process.join(120)
        if self.process.exitcode is None:
            self.process.kill()
            raise AssertionError("the worker did not finish within 120 s")
        report = json.loads(self.report.read_text()) if self.report.exists() else None
        return self.process.exitcode, report
