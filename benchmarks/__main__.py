"""``python -m benchmarks``: run the benchmarks (B1-B7), print one table, optionally write the figures as JSON.

    python -m benchmarks [--quick] [--json FILE] [--engines sqlite,postgresql,mariadb] [--only B1,B2,B6]
                         [--rows N] [--pairs N]

Full mode: B1 and B2 on 1M rows, B6 on 1M vs 10M rows (SQLite), 5 rounds. ``--quick``: B1/B2 on 10k rows
and B6 on 20k vs 200k, 5 rounds, under a minute for everything on all three engines (2 cores). ``--rows``
sets B1/B2's size and B6's smaller one. B7 (``--only B7``, SQLite, ephemeral Prefect) runs the retention flow
on a demo shop of 10,000 customers (``--quick``: 1,000; ``--rows`` sets the number of customers) in this
process, so it needs a process that has not imported Prefect yet. Progress goes to stderr, the table to
stdout. A server that does not answer is skipped with the reason (exit status 1 if anything was skipped or
failed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from benchmarks import b1_anonymise, b2_delete, b3_export, b4_erase, b5_checks, b6_memory, b7_flow
from benchmarks.harness import Result, Target, format_table, say, write_json
from benchmarks.seeding import ENGINE_NAMES, EngineName, server_reachable

FULL_ROWS = 1_000_000
QUICK_ROWS = 10_000
QUICK_B6_ROWS = 20_000
DEFAULT_PAIRS = 5
BENCHMARKS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
# B3 and B4 seed a 100k-customer demo shop (about a minute per engine), B5 imports Great Expectations and B7
# starts Prefect: they run when named with --only, so the default (and --quick) stays B1, B2, B6.
DEFAULT_BENCHMARKS = ("B1", "B2", "B6")
SUBJECT_ROWS = 100_000
TARGETS: dict[tuple[str, str], Target] = {
    **b1_anonymise.TARGETS,
    **b2_delete.TARGETS,
    **b3_export.TARGETS,
    **b4_erase.TARGETS,
    **b5_checks.TARGETS,
    **b6_memory.TARGETS,
    **b7_flow.TARGETS,
}
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_ROWS:,} rows; B6 {QUICK_B6_ROWS:,} vs 10x; B7 {b7_flow.QUICK_CUSTOMERS:,} customers",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--engines",
        type=lambda t: _names(t, ENGINE_NAMES, "engine"),
        default=list(ENGINE_NAMES),
        help="comma-separated: sqlite,postgresql,mariadb (default: all)",
    )
    parser.add_argument(
        "--only",
        type=lambda t: _names(t.upper(), BENCHMARKS, "benchmark"),
        default=list(DEFAULT_BENCHMARKS),
        help="comma-separated: B1..B7 (default: B1,B2,B6; B3/B4 seed 100k customers, B5 loads Great "
        "Expectations, B7 starts ephemeral Prefect)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        help=f"rows of B1/B2 and B6's smaller size (default {FULL_ROWS:,}); customers of B3/B4/B7",
    )
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="rounds per benchmark (default 5)")
    args = parser.parse_args(argv)
    if args.pairs < 1 or (args.rows is not None and args.rows < 10):
        parser.error("--pairs must be >= 1 and --rows >= 10")
    return args


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Result], list[str]]:
    """Run the chosen benchmarks; return the results and what was skipped or failed."""
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    b6_rows = args.rows or (QUICK_B6_ROWS if args.quick else FULL_ROWS)
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
    for engine in engines:
        if "B1" in args.only:
            jobs.append(("B1", engine, partial(b1_anonymise.run, engine, rows, args.pairs, workdir, log=say)))
        if "B2" in args.only:
            jobs.append(("B2", engine, partial(b2_delete.run, engine, rows, args.pairs, workdir, log=say)))
        if "B5" in args.only:
            jobs.append(("B5", engine, partial(b5_checks.run, engine, rows, args.pairs, workdir, log=say)))
        subjects = args.rows or SUBJECT_ROWS
        if "B3" in args.only:
            jobs.append(
                ("B3", engine, partial(b3_export.run, engine, subjects, args.pairs, workdir, log=say))
            )
        if "B4" in args.only:
            jobs.append(("B4", engine, partial(b4_erase.run, engine, subjects, args.pairs, workdir, log=say)))
    if "B6" in args.only:
        if "sqlite" in engines:
            jobs.append(("B6", "sqlite", partial(b6_memory.run, b6_rows, workdir, log=say)))
        else:
            problems.append("skipped B6: it runs on SQLite only")
    if "B7" in args.only:
        customers = args.rows or (b7_flow.QUICK_CUSTOMERS if args.quick else b7_flow.CUSTOMERS)
        if "sqlite" in engines:
            jobs.append(("B7", "sqlite", partial(b7_flow.run, customers, args.pairs, workdir, log=say)))
        else:
            problems.append("skipped B7: it runs on SQLite only")
    for bench, engine, job in jobs:
        started = time.perf_counter()
        try:
            results.extend(job())
        except Exception as exc:  # report and go on with the other benchmarks
            problems.append(f"{bench} {engine} failed: {type(exc).__name__}: {exc}")
        say(f"{bench} {engine}: {time.perf_counter() - started:.1f} s")
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
