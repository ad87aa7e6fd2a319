"""B4: a queue of erasure requests (Art. 17) worked through in one run, against hand-written statements.

Data: the SQL-filled shop (``shop.SQL_SHOP``, the demo schema, about 16 rows per customer). The erasure
policy is the demo's (config/demo.yaml): anonymise the account, keep orders, lines and consents, delete
addresses (detaching the orders shipped to them), tickets, sends and sessions.

A measurement erases a queue of :func:`queue_size` customers (1,000; a tenth of the customers below 10,000)
spread over the key range, none on legal hold, each found by its email, **each in its own transaction on
both sides**:

* Lethe (:func:`lethe_queue`, the one place the Lethe side is called): ``lethe.requests.erasure.queue.erase_queue``
  as ``lethe erase --subjects-file`` runs it: one ``prepare_erasure`` (policy parsed, schema reflected,
  subject graph built: all timed) and one evidence preparation, then per subject: resolve, the request
  register (open, close), lock and re-check the hold, capture the lookups, the statements with the keys
  they change, their keyed leaves and Merkle root journalled in the transaction, verification in the
  transaction and after it; journal rows copied into the ledger in groups (one ledger entry per subject).
* Baseline ``hand statements``: what a person would write, per subject in one transaction: find the id (and
  the legal hold) by email, detach the orders shipped to its addresses, delete addresses, tickets, sends
  and sessions, update the account with the same values (the hmac token computed in Python with the same
  column key). MariaDB gets the multi-table ``UPDATE ... JOIN`` form. Nothing is recorded.

Both must leave identical data (every table hashed, first round). Results: ``B4`` = the whole queue,
lethe / hand, target <= 1.5; ``B4-subject`` = one subject's p50 (the median over the queue of each side's
time per subject, then the medians over the rounds as for every result), reported.
"""

from __future__ import annotations

import statistics
import textwrap
import time
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from benchmarks.common import master_key, settings_for
from benchmarks.harness import LETHE, Benchmark, Method, Rounds, Run, pair_results
from benchmarks.report import REPORT, Result, Target
from benchmarks.shop import SQL_SHOP, shop_digest
from lethe.ledger.chain import Ledger
from lethe.operators.hmac import hmac_token
from lethe.policy.loading import parse_policy
from lethe.requests.erasure.queue import erase_queue
from lethe.stores.engines import Stores, create_store_engine

BASELINE = "hand statements"
TARGETS = {("B4", BASELINE): Target("<= 1.50", at_most=1.5), ("B4-subject", BASELINE): REPORT}
QUEUE = 1_000
POLICY = textwrap.dedent(
    """\
    version: 1
    controller: {name: Benchmark Ltd}
    stores:
      db: {url: "${DB_URL}", timezone: UTC}
    subjects:
      customer:
        store: db
        table: customers
        key: id
        lookup: [email]
        erasure:
          unless: [legal_hold]
          tables:
            db.customers:
              action: anonymise
              reason: orders point at the account and are kept 7 years for tax law
              columns:
                email: {operator: hmac}
                full_name: {operator: redact, value: erased}
                phone: {operator: "null"}
                iban: {operator: "null"}
                birth_date: {operator: "null"}
                postcode: {operator: generalise, keep: 2}
            db.orders: {action: keep, reason: tax law}
            db.order_lines: {action: keep, reason: tax law}
            db.marketing_consents: {action: keep, reason: proof of consent}
    """
)


def queue_size(customers: int) -> int:
    """1,000 subjects, or a tenth of the customers when there are fewer than 10,000 (quick runs)."""
    return max(min(QUEUE, customers // 10), 1)


def subjects(customers: int, count: int) -> list[str]:
    """The emails of ``count`` customers spread over 1..customers, none on legal hold (x % 100 == 0)."""
    ids = [min(1 + i * customers // count + 7, customers) for i in range(count)]
    return [f"c{i if i % 100 else i + 1}@example.com" for i in ids]


# ---------------------------------------------------------------------------------------------- methods


def lethe_queue(url: str, workdir: Path, emails: list[str]) -> list[float]:
    """Erase the queue through Lethe, one request (and transaction) per subject; the seconds of each."""
    policy = parse_policy(POLICY, source="b4.yaml", environ={"DB_URL": url})
    settings = settings_for(workdir)
    ledger = Ledger.from_settings(settings)
    stores = Stores(policy)
    try:
        # THE LETHE SIDE, called here and nowhere else: the queue API, as `lethe erase --subjects-file` runs it.
        summary = erase_queue(policy, stores, settings, "customer", emails, ledger=ledger, run_id="b4")
    finally:
        stores.close()
        ledger._engine.dispose()
    if summary.counts != {"completed": len(emails)}:
        raise AssertionError(f"the queue did not erase every subject: {summary.counts}")
    return [item.seconds for item in summary.items]


def hand_queue(url: str, emails: list[str]) -> list[float]:
    """The statements a person would write, one transaction per customer; the seconds of each."""
    engine = create_store_engine(url)
    if engine.dialect.name in ("mysql", "mariadb"):
        detach = (
            "UPDATE orders o JOIN addresses a ON a.id = o.shipping_address_id "
            "SET o.shipping_address_id = NULL WHERE a.customer_id = :c"
        )
    else:
        detach = (
            "UPDATE orders SET shipping_address_id = NULL "
            "WHERE shipping_address_id IN (SELECT id FROM addresses WHERE customer_id = :c)"
        )
    account = (
        "UPDATE customers SET email = :token, full_name = 'erased', phone = NULL, iban = NULL, "
        "birth_date = NULL, postcode = substr(postcode, 1, 2) WHERE id = :c"
    )
    laps: list[float] = []
    try:
        for email in emails:
            started = time.perf_counter()
            with engine.begin() as connection:
                query = sa.text("SELECT id, legal_hold FROM customers WHERE email = :e")
                key, held = connection.execute(query, {"e": email}).one()
                if not held:  # Art. 17(3)(e), as Lethe refuses it
                    connection.execute(sa.text(detach), {"c": key})
                    for table in ("addresses", "support_tickets", "newsletter_sends", "web_sessions"):
                        connection.execute(sa.text(f"DELETE FROM {table} WHERE customer_id = :c"), {"c": key})
                    token = hmac_token(master_key(), "db.customers.email", email)
                    connection.execute(sa.text(account), {"c": key, "token": token})
            laps.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return laps


def methods(run: Run) -> list[Method]:
    """Lethe, then the hand-written statements, on the same queue."""
    emails = subjects(run.size, queue_size(run.size))
    run.log(f"B4 {run.engine}: a queue of {len(emails):,} subjects per run")
    return [
        (LETHE, lambda url: lethe_queue(url, run.workdir, emails)),
        (BASELINE, lambda url: hand_queue(url, emails)),
    ]


def results(run: Run, rounds: Rounds) -> list[Result]:
    """The queue's ratio, and one subject's p50 on each side (median over the queue, per round)."""
    laps = cast(dict[str, list[list[float]]], rounds.outputs)  # what lethe_queue and hand_queue return
    p50 = {name: [statistics.median(queue) for queue in runs] for name, runs in laps.items()}
    run.log(
        f"B4 {run.engine}: one subject's p50 {statistics.median(p50[LETHE]) * 1000:.1f} ms (lethe), "
        f"{statistics.median(p50[BASELINE]) * 1000:.1f} ms (hand)"
    )
    return pair_results("B4", run.engine, run.size, rounds.times) + pair_results(
        "B4-subject", run.engine, run.size, p50
    )


BENCH = Benchmark(
    id="B4",
    summary="a queue of erasures in one run, a transaction per subject: Lethe vs hand statements",
    data=SQL_SHOP,
    methods=methods,
    targets=TARGETS,
    size=100_000,
    quick=2_000,
    unit="customers",
    check=shop_digest,
    results=results,
)
