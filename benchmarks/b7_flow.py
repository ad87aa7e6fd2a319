"""B7: the retention flow on the demo shop under ephemeral Prefect, against the same work through the core.

Data: the demo shop (``shop.DEMO_SHOP``: ``lethe.demo.seed`` with ``customers`` customers, 8 tables, about
25 rows per customer) in a SQLite file, seeded once; every measurement gets a copy of it and a new, empty
SQLite ledger beside it (removed with the copy).
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
states, with a heartbeat thread joined at the end of the flow run (tasks/heartbeat.py: it stops at once);
the tasks share one policy, one ``Stores`` and one ledger per flow run (tasks/shared.py), closed by a hook
when the run ends; progress artifacts, three more artifacts (two summary tables, the ledger head) and the
run's logs go to the API.

Both sides must report the same counts and leave identical data (every demo table hashed), checked on an
untimed run of each before the rounds (the harness's warm-up) and again in the first round. ``rows`` in the
results is the rows of the seeded shop. Reported, no target; the protocol asks to keep the overhead to
Prefect's own start-up.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks.common import LEDGER_KEY_HEX, MASTER_KEY_HEX
from benchmarks.harness import LETHE, Benchmark, Method, Rounds, Run, pair_results
from benchmarks.report import Result, Target
from benchmarks.shop import DEMO_SHOP, shop_digest
from lethe.demo.seed import DemoSpec
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid

BASELINE = "core functions"
TARGETS = {("B7", BASELINE): Target("report")}
POLICY = str(Path(__file__).resolve().parents[1] / "config" / "demo.yaml")
AS_OF = DemoSpec().as_of  # the instant the demo data is generated for, as `make demo` runs the flow
APPROVAL_THRESHOLD = 10**12  # never pause for approval: nobody is there to give it


def ledger_url(url: str) -> str:
    """The ledger of a copy: ``copy-N.db-ledger.db`` beside ``copy-N.db`` (discarded with it)."""
    return f"sqlite:///{make_url(url).database}-ledger.db"


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


def sides() -> list[Method]:
    """Lethe (the flow), then the core functions."""
    return [(LETHE, flow_retention), (BASELINE, core_retention)]


def methods(run: Run) -> list[Method]:
    """Start ephemeral Prefect for the run (reported, untimed), then :func:`sides`."""
    imported, started = run.stack.enter_context(ephemeral_prefect(run.workdir / "prefect"))
    run.log(f"B7: Prefect imported in {imported:.1f} s, ephemeral server started in {started:.1f} s")
    return sides()


def same_work(url: str, counts: object) -> tuple[object, object]:
    """What a side reported (pending and applied rows) and the data it left."""
    return counts, shop_digest(url)


def results(run: Run, rounds: Rounds) -> list[Result]:
    """The flow against the core functions; ``rows`` = the rows of the seeded shop."""
    return pair_results("B7", run.engine, run.seeded_rows, rounds.times)


BENCH = Benchmark(
    id="B7",
    summary="the retention flow on ephemeral Prefect vs the same work through the core functions",
    data=DEMO_SHOP,
    methods=methods,
    targets=TARGETS,
    size=10_000,
    quick=1_000,
    unit="customers",
    check=same_work,
    warm_up=True,
    engines=("sqlite",),
    results=results,
)
