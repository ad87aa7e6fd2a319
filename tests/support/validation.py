"""What the ``lethe validate`` tests share: the Chinook policy files, the command, and its JSON report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from lethe.cli.validate import validate
from support.databases import ChinookDb

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def policy_file(db: ChinookDb) -> Path:
    """The policy spelled as ``db`` spells its identifiers."""
    return POLICIES / ("chinook.yaml" if db.naming == "pascal" else "chinook_snake.yaml")


def invoke(*args: str | Path, url: str) -> Result:
    """``lethe validate ARGS`` with ``CHINOOK_URL=url``."""
    return CliRunner().invoke(
        validate, [str(a) for a in args], env={"CHINOOK_URL": url}, catch_exceptions=False
    )


def as_json(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] == "error"]
