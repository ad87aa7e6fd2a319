"""Replay after restore (#14 part 4): snapshot, erase and enforce, restore the snapshot, replay: the data is
what it was before the restore, on every engine, from the keyed leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support.restore import backup, data_hash, restore
from support.shop import Shop

from lethe.demo.spec import DemoSpec
from lethe.errors import LedgerTamperedError
from lethe.ledger.journal import JOURNAL_TABLE
from lethe.ledger.tables import leaves_table
from lethe.replay import replay
from lethe.replay.changes import ReplayError
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


def test_a_dry_run_counts_and_changes_nothing(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    enforce_all(shop)
    restore(shop.engine, snapshot)
    restored = data_hash(shop.engine)
    journal = shop.one(f"SELECT count(*) FROM {JOURNAL_TABLE}")
    plan = replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since, dry_run=True)
    assert plan.applied > 0 and plan.matched == plan.applied
    assert data_hash(shop.engine) == restored
    assert shop.one(f"SELECT count(*) FROM {JOURNAL_TABLE}") == journal
    assert shop.entries()[-1].entry.action == "replay.plan"


def test_refused_before_anything_changes(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    enforce_all(shop)
    restore(shop.engine, snapshot)
    restored = data_hash(shop.engine)
    with pytest.raises(ReplayError, match="future"):
        replay(
            shop.policy, shop.stores, shop.settings, shop.ledger, since=datetime.now(UTC) + timedelta(hours=1)
        )
    with pytest.raises(ReplayError, match="unknown store"):
        replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since, store_names=["nope"])
    # A rule the policy no longer has: its rows cannot be replayed as they were made.
    changed = shop.policy.model_copy(
        update={"retention": [r for r in shop.policy.retention if r.name != "orders-7y"]}
    )
    with pytest.raises(ReplayError, match="orders-7y"):
        replay(changed, shop.stores, shop.settings, shop.ledger, since=since)
    assert data_hash(shop.engine) == restored


def test_leaves_edited_in_the_ledger_database_are_refused(shop: Shop) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    snapshot = backup(shop.engine)
    enforce_all(shop)
    restore(shop.engine, snapshot)
    restored = data_hash(shop.engine)
    # The leaves of an anonymising batch put in a deleting batch's row: a replay would delete those rows.
    with shop.ledger.connect() as connection, connection.begin():
        rows = {r.action: r for r in connection.execute(sa.select(leaves_table))}
        forged = sa.update(leaves_table).where(leaves_table.c.ref == rows["delete"].ref)
        connection.execute(
            forged.values(leaves=rows["anonymise"].leaves, leaf_count=rows["anonymise"].leaf_count)
        )
    with pytest.raises(LedgerTamperedError, match="do not give the root"):
        replay(shop.policy, shop.stores, shop.settings, shop.ledger, since=since)
    assert data_hash(shop.engine) == restored
