"""Side-by-side measurement: rounds of Lethe and its baselines on fresh copies, medians, JSON and a table.

The machines are shared and noisy, so only ratios measured in the same run mean anything. A *round* times
Lethe and every baseline once, each on a fresh copy of the same data (the copying is not timed); the order
alternates between rounds (Lethe first, then the baselines; then the baselines in reverse, then Lethe), so a
drift in the machine's speed hits both sides alike. Each baseline's *pair* in a round is (Lethe's time,
its time); a result's ``ratio`` is the median over the rounds of ``lethe / baseline`` per pair, and
``lethe_s``/``baseline_s`` are the median times.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

JSON_KEYS = ("id", "engine", "rows", "lethe_s", "baseline", "baseline_s", "ratio")
LETHE = "lethe"

# Run the work against a fresh copy (its URL); what it returns is ignored.
Work = Callable[[str], object]


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
    """What a result must reach: ``ratio <= at_most`` or ``ratio >= at_least`` (None: report only)."""

    text: str
    at_most: float | None = None
    at_least: float | None = None

    def met(self, ratio: float) -> bool | None:
        """True/False, or None when the result is only reported."""
        if self.at_most is not None:
            return ratio <= self.at_most
        if self.at_least is not None:
            return ratio >= self.at_least
        return None


class Copies(Protocol):
    """What a benchmark measures on: fresh copies of one dataset (``seeding.Dataset``)."""

    def fresh(self) -> str:
        """URL of a new copy."""
        ...

    def discard(self, url: str) -> None:
        """Remove a copy."""
        ...


def timed(work: Work, url: str) -> float:
    """Seconds ``work(url)`` takes (garbage collected before, not during)."""
    gc.collect()
    started = time.perf_counter()
    work(url)
    return time.perf_counter() - started


def run_rounds(
    copies: Copies,
    methods: Sequence[tuple[str, Work]],
    rounds: int,
    *,
    check: Callable[[str], object] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Time every method ``rounds`` times, each on a fresh copy, alternating the order; return the times.

    ``methods[0]`` is Lethe. A round's copies are made before it starts and removed after it ends, in
    parallel threads (it is I/O, mostly on the server), never while anything is timed. With ``check``, the
    first round calls it on each method's copy after the measurement (untimed) and requires every method to
    leave the same value: the same final data.
    """
    times: dict[str, list[float]] = {name: [] for name, _ in methods}
    expected: tuple[str, object] | None = None
    with ThreadPoolExecutor(max_workers=len(methods)) as pool:
        for number in range(rounds):
            order = list(methods) if number % 2 == 0 else list(reversed(methods))
            urls = list(pool.map(lambda _: copies.fresh(), order))
            try:
                for (name, work), url in zip(order, urls, strict=True):
                    seconds = timed(work, url)
                    times[name].append(seconds)
                    if log is not None:
                        log(f"  round {number + 1}/{rounds} {name}: {seconds:.3f} s")
                    if check is not None and number == 0:
                        seen = check(url)
                        if expected is None:
                            expected = (name, seen)
                        elif seen != expected[1]:
                            raise AssertionError(f"{name} left different data than {expected[0]}")
            finally:
                list(pool.map(copies.discard, urls))
    return times


def pair_results(
    bench_id: str, engine: str, rows: int, times: dict[str, list[float]], labels: dict[str, str] | None = None
) -> list[Result]:
    """One result per baseline: medians of the times and of the per-round ratios lethe/baseline."""
    lethe = times[LETHE]
    results = []
    for name, base in times.items():
        if name == LETHE:
            continue
        ratios = [a / b for a, b in zip(lethe, base, strict=True)]
        results.append(
            Result(
                id=bench_id,
                engine=engine,
                rows=rows,
                lethe_s=round(statistics.median(lethe), 4),
                baseline=(labels or {}).get(name, name),
                baseline_s=round(statistics.median(base), 4),
                ratio=round(statistics.median(ratios), 4),
            )
        )
    return results


def write_json(results: Iterable[Result], path: Path) -> None:
    """Write the results as a JSON list of objects with exactly ``JSON_KEYS``."""
    path.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n", encoding="utf-8")


def format_table(results: Sequence[Result], targets: dict[tuple[str, str], Target]) -> str:
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
        target = targets.get((r.id, r.baseline)) or targets.get((r.id, "*"))
        met = target.met(r.ratio) if target is not None else None
        unit = "MB" if r.id == "B6" else "s"
        lines.append(
            (
                r.id,
                r.engine,
                f"{r.rows:,}",
                f"{r.lethe_s:.3f} {unit}" if unit == "s" else f"{r.lethe_s:.1f} {unit}",
                r.baseline,
                f"{r.baseline_s:.3f} {unit}" if unit == "s" else f"{r.baseline_s:.1f} {unit}",
                f"{r.ratio:.2f}",
                f"{1 / r.ratio:.2f}" if r.ratio else "-",
                target.text if target is not None else "report",
                {True: "yes", False: "NO", None: "-"}[met],
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    rendered = ["  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(rendered)


def say(text: str, stream: TextIO | None = None) -> None:
    """Progress to stderr (the table goes to stdout)."""
    print(text, file=stream or sys.stderr, flush=True)
