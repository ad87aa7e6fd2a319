"""What a benchmark reports: results (one per baseline), targets, the printed table and the JSON file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

JSON_KEYS = ("id", "engine", "rows", "lethe_s", "baseline", "baseline_s", "ratio")


@dataclass(frozen=True)
class Result:
    """One line of the output: Lethe against one baseline on one engine (JSON: exactly these keys)."""

    id: str
    engine: str
    rows: int
    lethe_s: float
    baseline: str
    baseline_s: float
    ratio: float

    def as_json(self) -> dict[str, Any]:
        """The JSON object of this result."""
        data = asdict(self)
        assert tuple(data) == JSON_KEYS
        return data


@dataclass(frozen=True)
class Target:
    """What a result must reach: ``ratio <= at_most`` or ``>= at_least``, and Lethe's median (p50) under
    ``p50_under`` seconds; none of them: report only."""

    text: str
    at_most: float | None = None
    at_least: float | None = None
    p50_under: float | None = None

    def met(self, ratio: float, lethe_s: float | None = None) -> bool | None:
        """True/False, or None when the result is only reported."""
        verdicts = []
        if self.at_most is not None:
            verdicts.append(ratio <= self.at_most)
        if self.at_least is not None:
            verdicts.append(ratio >= self.at_least)
        if self.p50_under is not None:
            verdicts.append(lethe_s is not None and lethe_s < self.p50_under)
        return all(verdicts) if verdicts else None


Targets = dict[tuple[str, str], Target]  # (id, baseline) or (id, "*") -> target
REPORT = Target("report")


def write_json(results: Iterable[Result], path: Path) -> None:
    """Write the results as a JSON list of objects with exactly ``JSON_KEYS``."""
    path.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n", encoding="utf-8")


def format_table(results: Sequence[Result], targets: Targets) -> str:
    """The printed table: every figure, the inverse ratio, the target and whether it is met.

    ``targets`` maps ``(id, baseline)`` (or ``(id, "*")`` for every baseline of an id) to a target.
    """
    head = (
        "id",
        "engine",
        "rows",
        "lethe",
        "baseline",
        "baseline",
        "lethe/base",
        "base/lethe",
        "target",
        "met",
    )
    lines = [head]
    for r in results:
        target = targets.get((r.id, r.baseline)) or targets.get((r.id, "*")) or REPORT
        # B6 reports peak memory in MB, every other benchmark seconds.
        lethe, base = (f"{r.lethe_s:.1f} MB", f"{r.baseline_s:.1f} MB") if r.id == "B6" else (
            f"{r.lethe_s:.3f} s", f"{r.baseline_s:.3f} s"
        )  # fmt: skip
        lines.append(
            (
                r.id,
                r.engine,
                f"{r.rows:,}",
                lethe,
                r.baseline,
                base,
                f"{r.ratio:.2f}",
                f"{1 / r.ratio:.2f}" if r.ratio else "-",
                target.text,
                {True: "yes", False: "NO", None: "-"}[target.met(r.ratio, r.lethe_s)],
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    rendered = ["  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(rendered)


def say(text: str, stream: TextIO | None = None) -> None:
    """Progress to stderr (the table goes to stdout)."""
    print(text, file=stream or sys.stderr, flush=True)
