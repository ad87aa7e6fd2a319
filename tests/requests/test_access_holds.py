"""Open access requests hold retention (#14 part 5, EDPB Guidelines 01/2022): a subject waiting for its data
keeps its rows until the request is answered; plans and the ledger count them as held. Three engines."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from support.shop import Shop, fingerprint_of

from lethe.demo.spec import DemoSpec
from lethe.requests.holds import access_holds
from lethe.requests.register import close_request, open_request, state_engine
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun

AS_OF = DemoSpec().as_of
CUTOFF = (AS_OF - timedelta(days=90)).replace(tzinfo=None)
SESSIONS = "SELECT count(*) FROM web_sessions WHERE customer_id = :c AND started_at < :cut"


def run_of(shop: Shop) -> RetentionRun:
    holds = access_holds(shop.policy, shop.stores, shop.settings)
    return RetentionRun(shop.policy, shop.stores, shop.settings, AS_OF, ledger=shop.ledger, holds=holds)


def busiest(shop: Shop) -> tuple[int, int]:
    """The customer with the most expired web sessions, and how many."""
    rows = shop.rows(
        "SELECT customer_id, count(*) FROM web_sessions WHERE customer_id IS NOT NULL AND started_at < :cut "
        "GROUP BY customer_id ORDER BY count(*) DESC, customer_id",
        cut=CUTOFF,
    )
    return int(rows[0][0]), int(rows[0][1])


def test_open_access_request_holds_the_subjects_rows_until_answered(shop: Shop) -> None:
    customer, expired = busiest(shop)
    rule = shop.policy.rule("web-sessions-90d")
    without = plan_rule(run_of(shop), rule)
    assert without.held == 0
    engine = state_engine(shop.settings)
    request = open_request(engine, "access", "customer", fingerprint_of(shop, customer))
    other = open_request(engine, "erasure", "customer", fingerprint_of(shop, customer + 1))  # holds nothing

    run = run_of(shop)
    plan = plan_rule(run, rule)
    assert (plan.held, plan.pending) == (expired, without.pending - expired)
    result = enforce_rule(run, rule)
    assert (result.held, result.applied) == (expired, without.pending - expired)
    assert shop.one(SESSIONS, c=customer, cut=CUTOFF) == expired  # kept
    entry = shop.entries()[-1].entry
    assert (entry.rule, entry.counts["held"]) == ("web-sessions-90d", expired)

    close_request(engine, request.id, "completed", "exported")
    close_request(engine, other.id, "refused", "test")
    after = enforce_rule(run_of(shop), rule)
    assert (after.applied, after.held) == (expired, 0)
    assert shop.one(SESSIONS, c=customer, cut=CUTOFF) == 0


def test_the_hold_covers_the_identity_row_and_its_children(shop: Shop) -> None:
    customer, _ = busiest(shop)
    engine = state_engine(shop.settings)
    open_request(engine, "portability", "customer", fingerprint_of(shop, customer))
    holds = access_holds(shop.policy, shop.stores, shop.settings)
    assert holds is not None and holds.subjects == 1
    run = run_of(shop)
    for name, table in (("inactive-customers-3y", "customers"), ("orders-7y", "orders")):
        sql_rule = shop.policy.rule(name)
        predicate = holds(sql_rule, shop.stores.sa_table("shop", table))
        assert predicate is not None
        column = "id" if table == "customers" else "customer_id"
        held = shop.one(f"SELECT count(*) FROM {table} WHERE {column} = :c", c=customer)
        with shop.stores.engine("shop").connect() as connection:
            counted = connection.execute(
                sa.select(sa.func.count()).select_from(shop.stores.sa_table("shop", table)).where(predicate)
            ).scalar_one()
        assert counted == held
        assert plan_rule(run, sql_rule).held <= held
