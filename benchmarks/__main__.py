"""``python -m benchmarks``: run the benchmarks (B1-B8), print one table, optionally write the figures as JSON.

    python -m benchmarks [--quick] [--json FILE] [--engines sqlite,postgresql,mariadb] [--only B1,B2,B6]
                         [--rows N] [--pairs N]

Each benchmark is one module declaring a ``harness.Benchmark`` (its data, Lethe side, baselines, check and
targets, default and quick sizes); ``BENCHMARKS`` lists them. The default run (and ``--quick``) is B1, B2
and B6; B3, B4, B5, B7 and B8 run when named with ``--only``. ``--rows`` sets every chosen benchmark's size (rows
or customers). B7 (SQLite, ephemeral Prefect) needs a process that has not imported Prefect yet. Progress
goes to stderr, the table to stdout. A server that does not answer is skipped with the reason (exit status 1
if anything was skipped or failed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from benchmarks import (
    b1_anonymise,
    b2_delete,
    b3_export,
    b4_erase,
    b5_checks,
    b6_memory,
    b7_flow,
    b8_partitions,
)
from benchmarks.harness import Benchmark, measure
from benchmarks.report import Result, Targets, format_table, say, write_json
from benchmarks.seeding import ENGINE_NAMES, EngineName, server_reachable

BENCHMARKS: dict[str, Benchmark] = {
    b.id: b
    for b in (
        b1_anonymise.BENCH,
        b2_delete.BENCH,
        b3_export.BENCH,
        b4_erase.BENCH,
        b5_checks.BENCH,
        b6_memory.BENCH,
        b7_flow.BENCH,
        b8_partitions.BENCH,
    )
}
DEFAULT_BENCHMARKS = [b.id for b in BENCHMARKS.values() if b.default]
DEFAULT_PAIRS = 5
TARGETS: Targets = {key: target for b in BENCHMARKS.values() for key, target in b.targets.items()}
HEADER = """\
Lethe vs baselines, measured side by side ({pairs} rounds, fresh copy of the data per measurement).
lethe / baseline: median seconds; lethe/base: median over rounds of lethe/baseline (lower is better for
Lethe); base/lethe: its inverse. B6: lethe = peak RSS (MB) at the larger size (rows), baseline = peak RSS
at the smaller one, ratio = growth. B7: lethe = the retention flow on ephemeral Prefect, rows = rows of the
seeded demo shop."""


def _names(text: str, valid: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(valid)}"
        )
    return names


def _sizes(quick: bool) -> str:
    return ", ".join(
        f"{b.id} {b.quick if quick else b.size:,}" + ("" if b.unit == "rows" else f" {b.unit}")
        for b in BENCHMARKS.values()
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        epilog="benchmarks:\n" + "\n".join(f"  {b.id}  {b.summary}" for b in BENCHMARKS.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {_sizes(True)}")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--engines",
        type=lambda t: _names(t, ENGINE_NAMES, "engine"),
        default=list(ENGINE_NAMES),
        help="comma-separated: sqlite,postgresql,mariadb (default: all)",
    )
    parser.add_argument(
        "--only",
        type=lambda t: _names(t.upper(), list(BENCHMARKS), "benchmark"),
        default=DEFAULT_BENCHMARKS,
        help=f"comma-separated ids: {','.join(BENCHMARKS)} (default: {','.join(DEFAULT_BENCHMARKS)})",
    )
    parser.add_argument(
        "--rows",
        type=int,
        help=f"the size of every chosen benchmark (default: {_sizes(False)}; B6: the smaller)",
    )
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="rounds per benchmark (default 5)")
    args = parser.parse_args(argv)
    if args.pairs < 1 or (args.rows is not None and args.rows < 10):
        parser.error("--pairs must be >= 1 and --rows >= 10")
    return args


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Result], list[str]]:
    """Run the chosen benchmarks; return the results and what was skipped or failed."""
    results: list[Result] = []
    problems: list[str] = []
    engines: list[EngineName] = []
    for engine in args.engines:
        reason = None if engine == "sqlite" else server_reachable(engine)
        if reason:
            problems.append(f"skipped {engine}: {reason}")
        else:
            engines.append(engine)
    jobs: list[tuple[str, str, Callable[[], list[Result]]]] = []
    for bench in (BENCHMARKS[name] for name in BENCHMARKS if name in args.only):
        size = args.rows or (bench.quick if args.quick else bench.size)
        chosen = [e for e in engines if e in bench.engines]
        if not chosen:
            problems.append(f"skipped {bench.id}: it runs on {', '.join(bench.engines)} only")
        for engine in chosen:
            jobs.append(
                (bench.id, engine, partial(measure, bench, engine, size, args.pairs, workdir, log=say))
            )
    for bench_id, engine, job in jobs:
        started = time.perf_counter()
        try:
            results.extend(job())
        except Exception as exc:  # report and go on with the other benchmarks
            problems.append(f"{bench_id} {engine} failed: {type(exc).__name__}: {exc}")
        say(f"{bench_id} {engine}: {time.perf_counter() - started:.1f} s")
    return results, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write the JSON; 0 when everything ran."""
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lethe-bench-") as tmp:
        results, problems = run(args, Path(tmp))
    print(HEADER.format(pairs=args.pairs))
    print()
    print(format_table(results, TARGETS))
    for problem in problems:
        print(problem)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        write_json(results, args.json)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
