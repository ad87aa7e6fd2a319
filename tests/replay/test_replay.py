"""Replay after restore (#14 part 4): snapshot, erase and enforce, restore the snapshot, replay: the data is
what it was before the restore, on every engine, from the keyed leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.restore import backup, data_hash, restore
from support.shop import Shop

from lethe.demo.spec import DemoSpec
from lethe.ledger.journal import JOURNAL_TABLE
from lethe.replay import replay
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun

AS_OF = DemoSpec().as_of


def enforce_all(shop: Shop) -> int:
    """Enforce every rule of the demo policy; the rows changed."""
    run = RetentionRun(shop.policy, shop.stores, shop.settings, AS_OF, ledger=shop.ledger)
    return sum(enforce_rule(run, rule).applied for rule in run.rules())


def email_of(shop: Shop, key: int) -> str:
    return str(shop.one("SELECT email FROM customers WHERE id = :k", k=key))


def test_replay_after_restore_gives_the_state_before_the_restore(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    assert enforce_all(shop) > 0
    before_restore = data_hash(shop.engine)
    restore(shop.engine, snapshot)
    assert data_hash(shop.engine) != before_restore  # the restore brought expired rows back
    assert shop.one(f"SELECT count(*) FROM {JOURNAL_TABLE}") == 0  # the leaves come from the ledger side
    result = replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since)
    assert data_hash(shop.engine) == before_restore
    assert result.applied > 0 and result.matched == result.applied
    # Journalled and ledgered: the replay's batches, then its summary.
    flows = [row[0] for row in shop.rows(f"SELECT flow FROM {JOURNAL_TABLE} ORDER BY id")]
    assert "replay" in flows
    last = shop.entries()[-1].entry
    assert (last.flow, last.action, last.counts["applied"]) == ("replay", "replay", result.applied)


def test_a_second_replay_finds_everything_handled(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    enforce_all(shop)
    restore(shop.engine, snapshot)
    replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since)
    state = data_hash(shop.engine)
    again = replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since)
    assert again.applied == 0 and again.matched == again.already
    assert data_hash(shop.engine) == state
