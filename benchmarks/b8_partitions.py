"""B8: scale-out. The anonymise rule of B1 (``people``, 40% expired) on PostgreSQL, split into
``PARTITIONS`` primary-key ranges enforced concurrently, against the same rule as one partition.

Lethe: ``lethe.retention.enforce.enforce_partitioned`` (``lethe retention enforce --partitions 4``): bounds
from the key index (min/max of the integer key), one thread per partition, each under its own lock with its
own spans, journal rows and ledger entries, then one verifying count. Baseline, on a fresh copy of the same
data: ``enforce_rule``, the rule as one partition (adaptive spans, the default). Both change exactly the
same rows to exactly the same values (checked in the first round). ``base/lethe`` is the speed-up; the
table says how many cores the machine has. Target: never slower than one partition (``lethe/base <= 1``).
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.b1_anonymise import table_digest
from benchmarks.common import expired_count, run_lethe, settings_for
from benchmarks.common import policy_text as one_rule_policy
from benchmarks.harness import LETHE, Benchmark, Method, Run, Work
from benchmarks.report import Target
from benchmarks.seeding import AS_OF
from benchmarks.tables import PEOPLE, PEOPLE_RULE
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.retention.enforce import enforce_partitioned
from lethe.retention.run import RetentionRun
from lethe.stores.engines import Stores

PARTITIONS = 4
CORES = os.cpu_count() or 1
BASELINE = "1 partition"
TARGETS = {("B8", BASELINE): Target(f"<= 1.00 ({CORES} cores)", at_most=1.0)}


def run_partitioned(url: str, workdir: Path, partitions: int) -> tuple[int, int]:
    """Enforce the rule in ``partitions`` concurrent partitions; (rows applied, rows remaining)."""
    policy = parse_policy(one_rule_policy(PEOPLE_RULE), source="benchmark.yaml", environ={"DB_URL": url})
    settings = settings_for(workdir)
    ledger = Ledger.from_settings(settings)
    run = RetentionRun(policy, Stores(policy), settings, AS_OF, ledger=ledger, flow="benchmark")
    try:
        result = enforce_partitioned(run, run.rules()[0], partitions)
        return result.applied, result.remaining
    finally:
        run.stores.close()
        ledger._engine.dispose()


def _partitioned(workdir: Path, expected: int) -> Work:
    def work(url: str) -> None:
        applied, remaining = run_partitioned(url, workdir, PARTITIONS)
        if (applied, remaining) != (expected, 0):
            raise AssertionError(f"{PARTITIONS} partitions anonymised {applied} rows, left {remaining}")

    return work


def _one(workdir: Path, expected: int) -> Work:
    def work(url: str) -> None:
        result = run_lethe(PEOPLE_RULE, url, workdir)
        if (result.applied, result.remaining) != (expected, 0):
            raise AssertionError(f"one partition anonymised {result.applied} rows")

    return work


def methods(run: Run) -> list[Method]:
    """Lethe in PARTITIONS partitions, then the same rule as one partition."""
    expected = expired_count(run.size)
    return [(LETHE, _partitioned(run.workdir, expected)), (BASELINE, _one(run.workdir, expected))]


BENCH = Benchmark(
    id="B8",
    summary=f"anonymise a rule in {PARTITIONS} concurrent partitions vs one (PostgreSQL; speed-up per core)",
    data=PEOPLE,
    methods=methods,
    targets=TARGETS,
    size=10_000_000,
    quick=100_000,
    check=table_digest,
    engines=("postgresql",),
)
