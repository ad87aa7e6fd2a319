"""One harness for every benchmark: a module declares a :class:`Benchmark`, :func:`measure` runs it.

The machines are shared and noisy, so only ratios measured in the same run mean anything. A *round* times
Lethe and every baseline once, each on a fresh copy of the same data (the copying is not timed); the order
alternates between rounds (Lethe first, then the baselines; then the baselines in reverse, then Lethe), so a
drift in the machine's speed hits both sides alike. Each baseline's *pair* in a round is (Lethe's time,
its time); a result's ``ratio`` is the median over the rounds of ``lethe / baseline`` per pair, and
``lethe_s``/``baseline_s`` are the median times. In the first round (and in the optional untimed warm-up)
every method must give the same ``check`` value: the same final data, or the same rows handed over.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmarks.report import Result, Targets, say
from benchmarks.seeding import ENGINE_NAMES, Data, EngineName, dataset

LETHE = "lethe"

# Run the work against a copy (its URL); what it returns goes to ``check`` and into ``Rounds.outputs``.
Work = Callable[[str], object]
Method = tuple[str, Work]
# What a method left or returned, reduced to a value every method must share: check(url, output).
Check = Callable[[str, object], object]
Log = Callable[[str], None]


class Copies(Protocol):
    """What a benchmark measures on: fresh copies of one dataset (``seeding.Dataset``)."""

    def fresh(self) -> str:
        """URL of a new copy."""
        ...

    def discard(self, url: str) -> None:
        """Remove a copy."""
        ...


class TemplateOnly:
    """``Copies`` of a read-only benchmark: every measurement reads the seeded template itself."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fresh(self) -> str:
        """The template's URL."""
        return self.url

    def discard(self, url: str) -> None:
        """Nothing to remove: nothing was changed."""


@dataclass
class Rounds:
    """Per method: the seconds of each round and what its work returned."""

    times: dict[str, list[float]]
    outputs: dict[str, list[object]]


def timed(work: Work, url: str) -> tuple[float, object]:
    """Seconds ``work(url)`` takes (garbage collected before, not during), and what it returned."""
    gc.collect()
    started = time.perf_counter()
    output = work(url)
    return time.perf_counter() - started, output


def _same(expected: tuple[str, object] | None, name: str, seen: object) -> tuple[str, object]:
    """The first method's value, once ``seen`` (method ``name``'s) is known to equal it."""
    if expected is None:
        return (name, seen)
    if seen != expected[1]:
        raise AssertionError(f"{name} left different data than {expected[0]}")
    return expected


def warm_up(copies: Copies, methods: Sequence[Method], check: Check | None) -> object:
    """Run every method once, untimed, each on its own copy; return the ``check`` value they share."""
    expected: tuple[str, object] | None = None
    for name, work in methods:
        url = copies.fresh()
        try:
            output = work(url)
            if check is not None:
                expected = _same(expected, name, check(url, output))
        finally:
            copies.discard(url)
    return None if expected is None else expected[1]


def run_rounds(
    copies: Copies,
    methods: Sequence[Method],
    rounds: int,
    *,
    check: Check | None = None,
    log: Log | None = None,
) -> Rounds:
    """Time every method ``rounds`` times, each on a fresh copy, alternating the order.

    ``methods[0]`` is Lethe. A round's copies are made before it starts and removed after it ends, in
    parallel threads (it is I/O, mostly on the server), never while anything is timed. With ``check``, the
    first round calls it on each method's copy and output after the measurement (untimed) and requires every
    method to give the same value.
    """
    result = Rounds({name: [] for name, _ in methods}, {name: [] for name, _ in methods})
    expected: tuple[str, object] | None = None
    with ThreadPoolExecutor(max_workers=len(methods)) as pool:
        for number in range(rounds):
            order = list(methods) if number % 2 == 0 else list(reversed(methods))
            urls = list(pool.map(lambda _: copies.fresh(), order))
            try:
                for (name, work), url in zip(order, urls, strict=True):
                    seconds, output = timed(work, url)
                    result.times[name].append(seconds)
                    result.outputs[name].append(output)
                    if log is not None:
                        log(f"  round {number + 1}/{rounds} {name}: {seconds:.3f} s")
                    if check is not None and number == 0:
                        expected = _same(expected, name, check(url, output))
            finally:
                list(pool.map(copies.discard, urls))
    return result


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


# ------------------------------------------------------------------------------------------ benchmarks


@dataclass
class Run:
    """One benchmark on one engine at one size: what its methods may use while the data exists."""

    bench: str
    engine: EngineName
    size: int  # rows or customers, as the benchmark counts them
    workdir: Path
    template_url: str = ""
    seeded_rows: int = 0  # rows written into the template, all tables
    rounds: int = 1
    log: Log = say
    stack: ExitStack = field(default_factory=ExitStack)  # closed after the rounds, before the data goes


@dataclass(frozen=True)
class Benchmark:
    """What a benchmark module declares; :func:`measure` does the rest."""

    id: str
    summary: str  # one line for --help
    data: Data | None  # None: ``custom`` seeds what it needs
    # Lethe first (named ``LETHE``), then the baselines; may enter contexts on ``run.stack``.
    methods: Callable[[Run], Sequence[Method]]
    targets: Targets
    size: int  # the default size; --rows overrides it
    quick: int  # the size under --quick
    unit: str = "rows"  # what the size counts
    check: Check | None = None  # compared across methods in the first round (and the warm-up)
    warm_up: bool = False  # one untimed, checked run of every method before the rounds
    read_only: bool = False  # every round reads the template itself: no copies
    min_rounds: int = 1  # rounds even when --pairs asks for fewer (fast benchmarks need more for a median)
    engines: tuple[EngineName, ...] = ENGINE_NAMES
    default: bool = False  # part of the default run and of --quick
    # The results from the rounds; default one per baseline (``pair_results`` with rows = size).
    results: Callable[[Run, Rounds], list[Result]] | None = None
    custom: Callable[[Run], list[Result]] | None = None  # replaces seeding and rounds (B6)


def no_methods(run: Run) -> Sequence[Method]:
    """The methods of a ``custom`` benchmark: none for the harness to time."""
    return ()


def measure(
    bench: Benchmark, engine: EngineName, size: int, pairs: int, workdir: Path, *, log: Log = say
) -> list[Result]:
    """Seed the data once, warm up if asked, time ``pairs`` rounds (at least ``min_rounds``), return results."""
    run = Run(bench.id, engine, size, workdir / f"{bench.id.lower()}-{engine}", log=log)
    run.rounds = max(pairs, bench.min_rounds)
    if bench.custom is not None:
        return bench.custom(run)
    if bench.data is None:
        raise ValueError(f"{bench.id} declares neither data nor a custom run")
    with dataset(engine, bench.data, size, run.workdir) as data, run.stack:
        run.template_url, run.seeded_rows = data.template_url, data.seeded_rows
        in_all = f" ({data.seeded_rows:,} rows in all)" if data.seeded_rows != size else ""
        log(f"{bench.id} {engine}: seeded {size:,} {bench.unit}{in_all} in {data.seed_seconds:.1f} s")
        methods = bench.methods(run)
        copies: Copies = TemplateOnly(data.template_url) if bench.read_only else data
        if bench.warm_up:
            warm_up(copies, methods, bench.check)
            log(f"{bench.id} {engine}: an untimed run of each method agrees")
        rounds = run_rounds(copies, methods, run.rounds, check=bench.check, log=log)
    if bench.results is not None:
        return bench.results(run, rounds)
    return pair_results(bench.id, engine, size, rounds.times)
