"""B7: the retention flow on the demo shop under ephemeral Prefect, against the same work through the core.

Data: the demo shop (``lethe.demo.seed`` with ``customers`` customers: 8 tables, about 25 rows per customer)
in a SQLite file, seeded once; every measurement gets a copy of it and a new, empty SQLite ledger beside it.
The policy is config/demo.yaml (six rules: four deletes, two anonymisations), judged at the demo's ``as_of``
as ``make demo`` does, with the store and ledger URLs and fixed keys in the environment.

* Lethe (the flow): ``flows.retention.retention_flow(policy, as_of, approval_threshold=10**12)`` called in
  this process, in Prefect's ephemeral mode (``PREFECT_HOME`` in the workdir, no ``PREFECT_API_URL``): the
  temporary API server is started before the first, untimed, run and its start-up is reported on its own.
* Baseline ``core functions``: :func:`core_retention`, the flow's steps as one script calls them (like
  ``lethe retention enforce --yes``): load the policy and settings, ``require_valid``, ``plan_rule`` for
  every rule (no sample keys), append ``plan_entry`` to the ledger, ``enforce_rule`` for every rule, read
  the ledger head.

What the flow does in addition, all inside its timing: a flow run and 17 task runs (validate, 6 plans,
record-plan, summary, 6 enforcements, summary, ledger head), each created on the API and moved through its
states, with a heartbeat thread joined at the end of the flow run; the tasks load the policy 27 times
instead of once (twice in each plan, record and enforce task), open 14 ``Stores`` (13 schema reflections)
and 8 ledgers instead of one each; progress artifacts, three more artifacts (two summary tables, the ledger
head) and the run's logs go to the API.

Both sides must report the same counts and leave identical data (every demo table hashed), checked on an
untimed run of each before the rounds and again in the first round. Reported, no target; the protocol asks
to keep the overhead to Prefect's own start-up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks.common import LEDGER_KEY_HEX, MASTER_KEY_HEX, digest
from benchmarks.harness import LETHE, Result, Target, pair_results, run_rounds
from lethe.demo.seed import DemoSpec, metadata, seed
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores, create_store_engine
from lethe.validation.policy import require_valid

BASELINE = "core functions"
TARGETS = {("B7", BASELINE): Target("report")}
CUSTOMERS = 10_000
QUICK_CUSTOMERS = 1_000
POLICY = str(Path(__file__).resolve().parents[1] / "config" / "demo.yaml")
AS_OF = DemoSpec().as_of  # the instant the demo data is generated for, as `make demo` runs the flow
APPROVAL_THRESHOLD = 10**12  # never pause for approval: nobody is there to give it


def ledger_url(url: str) -> str:
    """The ledger of a copy: ``copy-N-ledger.db`` beside ``copy-N.db``."""
    path = Path(make_url(url).database or "")
    return f"sqlite:///{path.with_name(path.stem + '-ledger.db')}"


@contextlib.contextmanager
def _environment(url: str) -> Iterator[None]:
    """The variables config/demo.yaml and ``load_settings`` read, for one copy; restored afterwards."""
    values = {
        "LETHE_DEMO_URL": url,
        "LETHE_LEDGER_URL": ledger_url(url),
        "LETHE_MASTER_KEY": MASTER_KEY_HEX,
        "LETHE_LEDGER_KEY": LEDGER_KEY_HEX,
    }
    saved = {name: os.environ[name] for name in values if name in os.environ}
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)
        os.environ.update(saved)


def flow_retention(url: str) -> dict[str, int]:
    """The retention flow on the copy at ``url``, as ``make demo`` calls it."""
    from flows.retention import retention_flow  # imports Prefect: only once the caller has set it up

    with _environment(url):
        return retention_flow(policy=POLICY, as_of=AS_OF, approval_threshold=APPROVAL_THRESHOLD)


def core_retention(url: str) -> dict[str, int]:
    """The flow's work on the copy at ``url`` through the core functions its tasks call, in one process."""
    with _environment(url):
        started = datetime.now(UTC)
        policy = load_policy(POLICY)
        settings = load_settings()
        ledger = Ledger.from_settings(settings)
        try:
            with Stores(policy) as stores:
                require_valid(policy, stores)
                run = RetentionRun(
                    policy, stores, settings, AS_OF, ledger=ledger, run_id=f"b7-{uuid.uuid4()}"
                )
                rules = run.rules()
                plans = [plan_rule(run, rule, sample=0) for rule in rules]
                ledger.append(plan_entry(run, plans, started))
                results = [enforce_rule(run, rule) for rule in rules]
            ledger.head()
        finally:
            ledger._engine.dispose()
    return {"pending": sum(p.pending for p in plans), "applied": sum(r.applied for r in results)}


def shop_digest(url: str) -> object:
    """The final data of a copy: every demo table (not Lethe's journal)."""
    engine = create_store_engine(url)
    try:
        return digest(engine, list(metadata.sorted_tables))
    finally:
        engine.dispose()


@dataclass
class ShopCopies:
    """The demo shop seeded once into ``template.db``; ``fresh()`` copies it (with no ledger yet)."""

    workdir: Path
    rows: int = 0
    seed_seconds: float = 0.0
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def template_url(self) -> str:
        """URL of the seeded template."""
        return f"sqlite:///{self.workdir / 'template.db'}"

    def seed(self, customers: int) -> None:
        """Seed ``customers`` customers (``rows``: all rows written; ``seed_seconds``: how long it took)."""
        started = time.perf_counter()
        engine = create_store_engine(self.template_url)
        try:
            self.rows = sum(seed(engine, DemoSpec(customers=customers)).values())
            with engine.connect() as connection:  # everything into the main file, which is what gets copied
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        self.seed_seconds = time.perf_counter() - started

    def fresh(self) -> str:
        """URL of a new copy of the template (thread-safe: a round's copies are made in parallel)."""
        with self._lock:
            number = next(self._numbers)
        path = self.workdir / f"copy-{number}.db"
        shutil.copyfile(self.workdir / "template.db", path)
        return f"sqlite:///{path}"

    def discard(self, url: str) -> None:
        """Remove a copy, its ledger, and their WAL and lock files."""
        for each in (url, ledger_url(url)):
            path = Path(make_url(each).database or "")
            for file in path.parent.glob(path.name + "*"):
                file.unlink(missing_ok=True)


@contextlib.contextmanager
def shop(customers: int, workdir: Path) -> Iterator[ShopCopies]:
    """A seeded :class:`ShopCopies` in ``workdir``, removed with all its copies afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        copies = ShopCopies(workdir)
        copies.seed(customers)
        yield copies
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def ephemeral_prefect(home: Path) -> Iterator[tuple[float, float]]:
    """Prefect's ephemeral mode with its state in ``home``; yields the seconds of its import and server start.

    Prefect reads its settings when it is imported, so this must come first: with Prefect already imported
    (or an API URL configured anyway) B7 would measure some other server, and it refuses.
    """
    if "prefect" in sys.modules:
        raise RuntimeError(
            "B7 runs on Prefect's ephemeral mode, but prefect is already imported in this process, with "
            "whatever settings it found: run `python -m benchmarks --only B7` in a fresh process"
        )
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.pop("PREFECT_API_URL", None)
    started = time.perf_counter()
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        raise RuntimeError(f"B7 needs ephemeral Prefect, but {PREFECT_API_URL.value()} is configured")
    imported = time.perf_counter()
    # The same instance the first flow run would start (one per process); started here to time it apart.
    server = SubprocessASGIServer()
    server.start()
    try:
        yield imported - started, time.perf_counter() - imported
    finally:
        # Send what the runs left queued while the server still listens: otherwise the workers retry
        # against the stopped server at exit (over a minute, then "Error logging to API").
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)
        server.stop()


def methods() -> list[tuple[str, Callable[[str], dict[str, int]]]]:
    """Lethe (the flow), then the core functions."""
    return [(LETHE, flow_retention), (BASELINE, core_retention)]


def run_each_once(copies: ShopCopies) -> tuple[dict[str, int], object]:
    """Run both sides once, untimed, each on its own fresh copy; return the counts and the final data.

    Raises AssertionError unless both report the same counts and leave the same data.
    """
    seen: dict[str, tuple[dict[str, int], object]] = {}
    for name, work in methods():
        url = copies.fresh()
        try:
            seen[name] = (work(url), shop_digest(url))
        finally:
            copies.discard(url)
    (flow_counts, flow_data), (core_counts, core_data) = seen[LETHE], seen[BASELINE]
    if flow_counts != core_counts:
        raise AssertionError(f"the flow reported {flow_counts}, the core functions {core_counts}")
    if flow_data != core_data:
        raise AssertionError("the flow and the core functions left different data")
    return flow_counts, flow_data


def run(
    customers: int,
    pairs: int,
    workdir: Path,
    *,
    log: Callable[[str], None] | None = None,
    ephemeral: bool = True,
) -> list[Result]:
    """B7 on SQLite: seed once, start ephemeral Prefect, check both sides agree (untimed), ``pairs`` rounds.

    ``ephemeral=False`` uses the Prefect API this process is already configured for (the tests' server).
    """
    say = log or (lambda _text: None)
    prefect = ephemeral_prefect(workdir / "b7-prefect") if ephemeral else contextlib.nullcontext(None)
    with shop(customers, workdir / "b7") as copies, prefect as seconds:
        say(f"B7: seeded {customers:,} customers ({copies.rows:,} rows) in {copies.seed_seconds:.1f} s")
        if seconds is not None:
            say(f"B7: Prefect imported in {seconds[0]:.1f} s, ephemeral server started in {seconds[1]:.1f} s")
        counts, _ = run_each_once(copies)
        say(f"B7: both sides report {counts} and leave the same data")
        times = run_rounds(copies, methods(), pairs, check=shop_digest, log=log)
    return pair_results("B7", "sqlite", copies.rows, times)


run_b7 = run  # the name the benchmark runner imports
