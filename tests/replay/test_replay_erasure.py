"""Replay of an erasure (#14 part 4): the subject's deleted and anonymised rows, found by the leaves its journal
rows hold, are erased again after a restore, with retention on top; the data is as before the restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.restore import backup, data_hash, restore
from support.shop import Shop, erase, full_customer

from lethe.demo.spec import DemoSpec
from lethe.ledger.journal import JOURNAL_TABLE
from lethe.replay import replay
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun


def test_an_erasure_and_retention_are_replayed_from_their_leaves(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    customer = full_customer(shop)
    email = str(shop.one("SELECT email FROM customers WHERE id = :k", k=customer))
    assert erase(shop, email).outcome == "completed"
    if not shop.one(f"SELECT count(*) FROM {JOURNAL_TABLE} WHERE flow = 'erasure' AND leaf_count > 0"):
        # Erasures journal their leaves from branch ev-requests on (#11 part 5); before, nothing to replay.
        pytest.skip("erasure journal rows without leaves (ev-requests not merged yet)")
    run = RetentionRun(shop.policy, shop.stores, shop.settings, DemoSpec().as_of, ledger=shop.ledger)
    for rule in run.rules():
        enforce_rule(run, rule)
    before_restore = data_hash(shop.engine)
    restore(shop.engine, snapshot)
    assert shop.one("SELECT count(*) FROM addresses WHERE customer_id = :k", k=customer) > 0
    result = replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since)
    assert data_hash(shop.engine) == before_restore
    erased = {t.table: t.applied for t in result.tables}
    assert erased["addresses"] > 0 and erased["customers"] > 0
    assert shop.one("SELECT count(*) FROM addresses WHERE customer_id = :k", k=customer) == 0
