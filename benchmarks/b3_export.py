"""B3: the access export of one customer of the demo shop (100k customers), against hand-written SELECTs.

The demo schema (``lethe.demo.seed``: customers, addresses, orders, order lines, tickets, consents, newsletter
sends, web sessions) is seeded once per engine; the export only reads, so every round works on the same
database (a ``Copies`` that hands out the same URL). Each round exports another customer, spread evenly over
the key range, and every method of the round works on the same one. Measurements per round:

* ``export``: the real ``lethe.requests.export.archive.export_subject``: resolve the identifier, read the rows, make them
  JSON-safe, write data.json, its JSON Schema, the CSVs, index.html and the manifest into a zip, fsync and
  rename it, and append the ledger entry (SQLite ledger). The policy, engines and the export plan
  (``plan_export``: reflected tables, prepared statements) are reused across rounds, as a flow exporting a
  batch of requests would.
* ``collect``: Lethe's reading step alone: ``resolve_subject`` + ``collect_rows`` (same rows, converted).
* ``rows``: ``collect_rows`` alone, the key already known.
* ``hand SELECTs``: what a person would write: one query finding the customer by id or email, then the
  eight SELECTs of this schema, ``fetchall`` on one connection; no conversion, no file.
* ``hand rows``: the eight SELECTs alone, the key already known.

Results (``lethe_s`` is the median, p50, of the Lethe side in seconds): ``B3`` = export / hand SELECTs,
``B3-collect`` = collect / hand SELECTs, ``B3-rows`` = rows / hand rows. Targets: ratio <= 2, and the
export's p50 under 50 ms (logged). Before timing, Lethe and the hand SELECTs must find the same number of
rows per table for every customer measured.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import settings_for
from benchmarks.harness import Result, Target, Work, format_table, pair_results, run_rounds, say
from benchmarks.seeding import EngineName, create_database, drop_database
from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.export.archive import export_subject
from lethe.requests.export.plan import collect_rows, plan_export
from lethe.requests.subjects import resolve_subject
from lethe.stores.engines import Stores, create_store_engine

CUSTOMERS = 100_000
MIN_ROUNDS = 25  # one export takes milliseconds: enough rounds for a stable median
HAND, HAND_ROWS = "hand SELECTs", "hand rows"
P50_TARGET_S = 0.050
TARGETS = {
    ("B3", HAND): Target("<= 2.00", at_most=2.0),
    ("B3-collect", HAND): Target("<= 2.00", at_most=2.0),
    ("B3-rows", HAND_ROWS): Target("<= 2.00", at_most=2.0),
}
HAND_FIND = "SELECT id FROM customers WHERE id = :id OR email = :text LIMIT 2"
DEMO_POLICY = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
# The rows of customer :k, table by table, as a person would write them for this schema.
HAND_SQL = {
    "shop.customers": "SELECT * FROM customers WHERE id = :k",
    "shop.addresses": "SELECT * FROM addresses WHERE customer_id = :k ORDER BY id",
    "shop.orders": "SELECT * FROM orders WHERE customer_id = :k ORDER BY id",
    "shop.order_lines": "SELECT l.* FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.customer_id = :k"
    " ORDER BY l.id",
    "shop.support_tickets": "SELECT * FROM support_tickets WHERE customer_id = :k ORDER BY id",
    "shop.marketing_consents": "SELECT * FROM marketing_consents WHERE customer_id = :k ORDER BY id",
    "shop.newsletter_sends": "SELECT * FROM newsletter_sends WHERE customer_id = :k ORDER BY id",
    "shop.web_sessions": "SELECT * FROM web_sessions WHERE customer_id = :k ORDER BY id",
}


class SameDatabase:
    """``Copies`` for a read-only benchmark: every measurement uses the one seeded database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fresh(self) -> str:
        """The seeded database itself."""
        return self.url

    def discard(self, url: str) -> None:
        """Nothing to remove: nothing was changed."""


@contextlib.contextmanager
def demo_database(engine: EngineName, customers: int, workdir: Path, log: Any = None) -> Iterator[str]:
    """URL of a demo shop with ``customers`` customers; a SQLite file is kept in ``workdir`` and reused."""
    workdir.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        path = workdir / f"shop-{customers}.db"
        done = path.with_suffix(".seeded")
        url = f"sqlite:///{path}"
        if not done.exists():
            _seed(url, customers, log)
            done.touch()
        elif log is not None:
            log(f"B3 sqlite: reusing {path}")
        yield url
        return
    url = create_database(engine)
    try:
        _seed(url, customers, log)
        yield url
    finally:
        drop_database(url)


def _seed(url: str, customers: int, log: Any) -> None:
    engine = create_store_engine(url)
    started = time.perf_counter()
    try:
        counts = seed(engine, DemoSpec(customers=customers))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # Statistics, so the planner sees the indexes' worth as it would on a database in use.
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("VACUUM ANALYZE")
            elif engine.dialect.name == "sqlite":
                connection.exec_driver_sql("ANALYZE")
            else:
                for table in counts:
                    connection.exec_driver_sql(f"ANALYZE TABLE {table}").all()
    finally:
        engine.dispose()
    if log is not None:
        total = sum(counts.values())
        log(f"B3 {url.split(':', 1)[0]}: seeded {total:,} rows in {time.perf_counter() - started:.1f} s")


class Bench:
    """What the three methods share: the policy, stores, reflected tables, a ledger and the subjects."""

    def __init__(self, url: str, customers: int, rounds: int, workdir: Path) -> None:
        self.policy: Policy = parse_policy(
            DEMO_POLICY.read_text(encoding="utf-8"), source=str(DEMO_POLICY), environ={"LETHE_DEMO_URL": url}
        )
        self.stores = Stores(self.policy)
        self.plan = plan_export(self.policy, self.stores, "customer")
        self.settings = settings_for(workdir)
        self.ledger = Ledger.from_settings(self.settings)
        self.out = workdir / "exports"
        self.hand_engine = create_store_engine(url)
        step = max(customers // rounds, 1)
        self.subjects = [1 + i * step for i in range(rounds)]

    def method(self, body: Callable[[int], object]) -> Work:
        """A measurement that exports subject ``subjects[i]`` on its i-th call (one call per round)."""
        calls = iter(self.subjects)
        return lambda _url: body(next(calls))

    def export(self, key: int) -> object:
        return export_subject(
            self.policy,
            self.stores,
            "customer",
            str(key),
            self.out,
            settings=self.settings,
            ledger=self.ledger,
            run_id="b3",
            plan=self.plan,
        )

    def collect(self, key: int) -> dict[str, int]:
        return self.rows(resolve_subject(self.policy, self.stores, "customer", str(key)))

    def rows(self, key: int) -> dict[str, int]:
        collected = collect_rows(self.stores, self.plan, key)
        return {t.name: len(rows) for t, rows in zip(self.plan.tables, collected, strict=True)}

    def hand(self, key: int) -> dict[str, int]:
        with self.hand_engine.connect() as connection:
            (found,) = connection.execute(sa.text(HAND_FIND), {"id": key, "text": str(key)}).scalars().all()
            return self._hand_rows(connection, found)

    def hand_rows(self, key: int) -> dict[str, int]:
        with self.hand_engine.connect() as connection:
            return self._hand_rows(connection, key)

    @staticmethod
    def _hand_rows(connection: sa.Connection, key: int) -> dict[str, int]:
        return {
            name: len(connection.execute(sa.text(sql), {"k": key}).fetchall())
            for name, sql in HAND_SQL.items()
        }

    def check(self) -> float:
        """Both sides find the same rows for every subject; returns the mean rows per export."""
        totals = []
        for key in self.subjects:
            lethe, hand = self.collect(key), self.hand(key)
            if self.rows(key) != lethe or self.hand_rows(key) != hand:
                raise AssertionError(f"customer {key}: rows differ with and without resolving the identifier")
            if lethe != hand:
                raise AssertionError(f"customer {key}: lethe read {lethe}, hand SELECTs {hand}")
            totals.append(sum(hand.values()))
        return statistics.mean(totals)

    def close(self) -> None:
        self.stores.close()
        self.hand_engine.dispose()
        self.ledger._engine.dispose()


def run(engine: EngineName, rows: int, pairs: int, workdir: Path, *, log: Any = None) -> list[Result]:
    """B3 on one engine: ``rows`` customers, at least ``MIN_ROUNDS`` rounds of export, collect and hand."""
    rounds = max(pairs, MIN_ROUNDS)
    with demo_database(engine, rows, workdir / f"b3-{engine}", log) as url:
        bench = Bench(url, rows, rounds, workdir / f"b3-{engine}")
        try:
            mean_rows = bench.check()
            if log is not None:
                log(f"B3 {engine}: {mean_rows:.1f} rows per export on average, {rounds} rounds")
            methods = [
                ("export", bench.method(bench.export)),
                ("collect", bench.method(bench.collect)),
                ("rows", bench.method(bench.rows)),
                (HAND, bench.method(bench.hand)),
                (HAND_ROWS, bench.method(bench.hand_rows)),
            ]
            times = run_rounds(SameDatabase(url), methods, rounds)
        finally:
            bench.close()
    results = pair_results("B3", engine, rows, {"lethe": times["export"], HAND: times[HAND]})
    results += pair_results("B3-collect", engine, rows, {"lethe": times["collect"], HAND: times[HAND]})
    results += pair_results("B3-rows", engine, rows, {"lethe": times["rows"], HAND_ROWS: times[HAND_ROWS]})
    if log is not None:
        p50 = statistics.median(times["export"])
        verdict = "met" if p50 < P50_TARGET_S else "NOT met"
        log(f"B3 {engine}: export p50 {p50 * 1000:.1f} ms (target < {P50_TARGET_S * 1000:.0f} ms: {verdict})")
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.b3_export``: B3 alone, for the engines given."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b3_export", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--engines", default="sqlite", help="comma-separated: sqlite,postgresql,mariadb")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--pairs", type=int, default=MIN_ROUNDS)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    results: list[Result] = []
    for engine in args.engines.split(","):
        results += run(engine, args.customers, args.pairs, args.workdir, log=say)
    print(format_table(results, TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
