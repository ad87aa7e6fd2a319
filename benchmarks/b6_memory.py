"""B6: peak memory of retention on N and 10N rows (B1's anonymise rule, SQLite file), each in a fresh process.

The parent seeds a SQLite file per size (in SQL: no row passes through Python), then starts
``python -m benchmarks.b6_memory --child URL WORKDIR``, which imports only what the run needs (no pandas),
enforces the rule and reports its own peak RSS (``VmHWM``; see ``peak_mb`` for why not ``ru_maxrss``).
A streaming engine's peak is dominated by the interpreter, the imports and one batch, so it must barely
grow with the table: the target is 10N/N <= 1.20.

Result: ``lethe_s`` = peak RSS (MB) at 10N rows, ``baseline_s`` = peak RSS (MB) at N rows, ``ratio`` =
10N/N, ``rows`` = 10N, ``baseline`` = ``"<N> rows"``. Peak RSS does not suffer from timing noise, so each
size is measured once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Benchmark, Run, no_methods
from benchmarks.report import Result, Target
from benchmarks.seeding import dataset
from benchmarks.tables import PEOPLE, PEOPLE_RULE

GROWTH = 10
TARGETS = {("B6", "*"): Target("<= 1.20", at_most=1.2)}
_ROOT = Path(__file__).resolve().parent.parent


def human(rows: int) -> str:
    """``100k``, ``1M``, ``2.5M``."""
    if rows >= 1_000_000 and rows % 100_000 == 0:
        return f"{rows / 1_000_000:g}M"
    if rows >= 1_000 and rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


def peak_mb() -> float:
    """This process's peak RSS in MB: ``VmHWM`` on Linux, else ``ru_maxrss``.

    ``ru_maxrss`` is not used on Linux because the kernel carries the high-water mark of the memory image an
    ``exec`` replaces into it: a child started by ``subprocess`` (vfork + exec) reports at least the parent's
    peak (here ~144 MB with pandas loaded). ``VmHWM`` belongs to the process's own memory image.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, workdir: Path) -> dict[str, Any]:
    """In the fresh process: enforce the rule once; return peak RSS (MB) after imports and at the end."""
    from benchmarks.common import run_lethe  # imported here: counted in "imports_mb"

    imports = peak_mb()
    started = time.perf_counter()
    result = run_lethe(PEOPLE_RULE, url, workdir)
    return {
        "imports_mb": round(imports, 1),
        "peak_mb": round(peak_mb(), 1),
        "seconds": round(time.perf_counter() - started, 3),
        "applied": result.applied,
        "batches": result.batches,
    }


def measure(rows: int, workdir: Path, *, log: Any = None) -> dict[str, Any]:
    """Seed ``rows`` rows into a SQLite file, run the child on it, return what it reports."""
    with dataset("sqlite", PEOPLE, rows, workdir / f"b6-{rows}") as data:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        }
        command = [
            sys.executable,
            "-m",
            "benchmarks.b6_memory",
            "--child",
            data.template_url,
            str(data.workdir),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"B6 child failed on {rows} rows:\n{completed.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if log is not None:
        log(
            f"  B6 {human(rows)} rows: peak {report['peak_mb']} MB (after imports {report['imports_mb']} MB), "
            f"{report['seconds']} s, {report['batches']} batches"
        )
    return report


def run(run: Run) -> list[Result]:
    """B6: peak RSS at ``run.size`` and at ``GROWTH * run.size`` rows."""
    rows = run.size
    small = measure(rows, run.workdir, log=run.log)
    big = measure(rows * GROWTH, run.workdir, log=run.log)
    return [
        Result(
            id="B6",
            engine="sqlite",
            rows=rows * GROWTH,
            lethe_s=big["peak_mb"],
            baseline=f"{human(rows)} rows",
            baseline_s=small["peak_mb"],
            ratio=round(big["peak_mb"] / small["peak_mb"], 4),
        )
    ]


BENCH = Benchmark(
    id="B6",
    summary="peak memory of retention on N and 10 N rows (SQLite), each in a fresh process",
    data=None,
    methods=no_methods,
    targets=TARGETS,
    size=1_000_000,
    quick=20_000,
    engines=("sqlite",),
    default=True,
    custom=run,
)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="benchmarks.b6_memory")
    parser.add_argument("--child", nargs=2, metavar=("URL", "WORKDIR"), required=True)
    args = parser.parse_args(argv)
    url, workdir = args.child
    print(json.dumps(child(url, Path(workdir))))


if __name__ == "__main__":
    main()
