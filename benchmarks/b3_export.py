"""B3: the access export of one customer of the demo shop (100k customers), against hand-written SELECTs.

Data: the demo generator's shop (``shop.DEMO_SHOP``: 8 tables, about 25 rows per customer). The export only
reads the shop, so every round reads the seeded template itself. Each round exports another customer,
spread evenly over the key range, and every method of the round works on the same one. Methods:

* ``lethe``: the real ``lethe.requests.export.archive.export_subject``: resolve the identifier, read the rows, make them
  JSON-safe, write data.json, its JSON Schema, the CSVs, index.html and the manifest into a zip, fsync and
  rename it, register the request and append the ledger entry (SQLite ledger). The policy, engines and the
  export plan (``plan_export``: reflected tables, prepared statements) are reused across rounds, as a flow
  working through a day's requests would.
* ``hand SELECTs + JSON file`` (the baseline of ``B3``): the least a person must do to hand the data over:
  one query finding the customer by id or email, the eight SELECTs of this schema on one connection, the
  rows as dicts ``json.dump``-ed into one file, flushed and ``os.fsync``-ed.
* ``collect`` against ``hand SELECTs`` (``B3-collect``): Lethe's reading step alone (``resolve_subject`` +
  ``collect_rows``, values converted) against the same SELECTs without the file.
* ``rows`` against ``hand rows`` (``B3-rows``): ``collect_rows`` against the eight SELECTs, the key known.

``lethe_s`` of ``B3`` is the export's median, its p50. Targets: lethe / hand file <= 1.5 and p50 under 50 ms;
``B3-collect`` and ``B3-rows`` are reported (they show where the export's time goes). In the untimed warm-up
and the first round every method must hand over the same rows (the ids of each table).
"""

from __future__ import annotations

import json
import os
import statistics
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import settings_for
from benchmarks.harness import LETHE, Benchmark, Method, Rounds, Run, pair_results
from benchmarks.report import REPORT, Result, Target
from benchmarks.shop import DEMO_SHOP
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.requests.export.archive import ExportResult, export_subject
from lethe.requests.export.plan import collect_rows, plan_export
from lethe.requests.subjects import resolve_subject
from lethe.stores.engines import Stores, create_store_engine

HAND_FILE, HAND, HAND_ROWS = "hand SELECTs + JSON file", "hand SELECTs", "hand rows"
P50_TARGET_S = 0.050
TARGETS = {
    ("B3", HAND_FILE): Target("<= 1.50, p50 < 50 ms", at_most=1.5, p50_under=P50_TARGET_S),
    ("B3-collect", HAND): REPORT,
    ("B3-rows", HAND_ROWS): REPORT,
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
Tables = dict[str, Sequence[Any]]  # table -> its rows of the subject (``id`` first in every shop table)


class Export:
    """What B3's methods share in one run: the policy, stores, export plan, a ledger and the subjects."""

    def __init__(self, run: Run) -> None:
        url = run.template_url
        self.policy = parse_policy(
            DEMO_POLICY.read_text(encoding="utf-8"), source=str(DEMO_POLICY), environ={"LETHE_DEMO_URL": url}
        )
        self.stores = Stores(self.policy)
        self.plan = plan_export(self.policy, self.stores, "customer")
        self.settings = settings_for(run.workdir)
        self.ledger = Ledger.from_settings(self.settings)
        self.out = run.workdir / "exports"
        self.out.mkdir(parents=True, exist_ok=True)
        self.hand_engine = create_store_engine(url)
        count = run.rounds + 1  # the warm-up's subject, then one per round
        self.subjects = [1 + i * max(run.size // count, 1) for i in range(count)]
        run.stack.callback(self.close)

    def method(self, body: Callable[[int], object]) -> Callable[[str], object]:
        """A measurement that works on subject ``subjects[i]`` on its i-th call (one call per round)."""
        calls = iter(self.subjects)
        return lambda _url: body(next(calls))

    def export(self, key: int) -> ExportResult:
        return export_subject(
            self.policy, self.stores, "customer", str(key), self.out,
            settings=self.settings, ledger=self.ledger, run_id="b3", plan=self.plan,
        )  # fmt: skip

    def collect(self, key: int) -> Tables:
        return self.rows(resolve_subject(self.policy, self.stores, "customer", str(key)))

    def rows(self, key: int) -> Tables:
        collected = collect_rows(self.stores, self.plan, key)
        return {t.name: rows for t, rows in zip(self.plan.tables, collected, strict=True)}

    def hand_file(self, key: int) -> Path:
        with self.hand_engine.connect() as connection:
            (found,) = connection.execute(sa.text(HAND_FIND), {"id": key, "text": str(key)}).scalars().all()
            data = {
                name: [dict(row._mapping) for row in connection.execute(sa.text(sql), {"k": found})]
                for name, sql in HAND_SQL.items()
            }
        path = self.out / f"hand-{key}.json"
        with path.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def hand(self, key: int) -> Tables:
        with self.hand_engine.connect() as connection:
            (found,) = connection.execute(sa.text(HAND_FIND), {"id": key, "text": str(key)}).scalars().all()
            return self._hand_rows(connection, found)

    def hand_rows(self, key: int) -> Tables:
        with self.hand_engine.connect() as connection:
            return self._hand_rows(connection, key)

    @staticmethod
    def _hand_rows(connection: sa.Connection, key: int) -> Tables:
        return {
            name: connection.execute(sa.text(sql), {"k": key}).fetchall() for name, sql in HAND_SQL.items()
        }

    def close(self) -> None:
        self.stores.close()
        self.hand_engine.dispose()
        self.ledger._engine.dispose()


def methods(run: Run) -> list[Method]:
    """The export, Lethe's reading steps and the three hand-written forms, each on the round's subject."""
    export = Export(run)
    return [
        (LETHE, export.method(export.export)),
        ("collect", export.method(export.collect)),
        ("rows", export.method(export.rows)),
        (HAND_FILE, export.method(export.hand_file)),
        (HAND, export.method(export.hand)),
        (HAND_ROWS, export.method(export.hand_rows)),
    ]


def handed_over(_url: str, output: object) -> dict[str, list[Any]]:
    """The ids of every table's rows a method handed over (the zip's data.json, the JSON file, the rows)."""
    if isinstance(output, ExportResult):
        with zipfile.ZipFile(output.path) as archive:
            tables = json.loads(archive.read("data.json"))["tables"]
        return {name: sorted(row["id"] for row in table["rows"]) for name, table in tables.items()}
    if isinstance(output, Path):
        data = json.loads(output.read_text(encoding="utf-8"))
        return {name: sorted(row["id"] for row in rows) for name, rows in data.items()}
    assert isinstance(output, dict)
    return {name: sorted(row[0] for row in rows) for name, rows in output.items()}


def results(run: Run, rounds: Rounds) -> list[Result]:
    """B3 (the export against the JSON file), B3-collect and B3-rows; the export's p50 logged."""
    times = rounds.times
    p50 = statistics.median(times[LETHE])
    verdict = "met" if p50 < P50_TARGET_S else "NOT met"
    run.log(
        f"B3 {run.engine}: export p50 {p50 * 1000:.1f} ms (target < {P50_TARGET_S * 1000:.0f} ms: {verdict})"
    )
    return [
        *pair_results("B3", run.engine, run.size, {LETHE: times[LETHE], HAND_FILE: times[HAND_FILE]}),
        *pair_results("B3-collect", run.engine, run.size, {LETHE: times["collect"], HAND: times[HAND]}),
        *pair_results("B3-rows", run.engine, run.size, {LETHE: times["rows"], HAND_ROWS: times[HAND_ROWS]}),
    ]


BENCH = Benchmark(
    id="B3",
    summary="export one customer of the demo shop: Lethe vs hand SELECTs written as one fsynced JSON file",
    data=DEMO_SHOP,
    methods=methods,
    targets=TARGETS,
    size=100_000,
    quick=10_000,
    unit="customers",
    check=handed_over,
    warm_up=True,
    read_only=True,
    min_rounds=25,  # one export takes milliseconds: enough rounds for a stable median
    results=results,
)
