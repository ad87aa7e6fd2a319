"""A withdrawal erasure interrupted between its commit and the ledger copy keeps its evidence in the store's
journal, and the next run copies it into the ledger; on all three engines."""

from __future__ import annotations

import pytest
from support.shop import Shop

from lethe.consent import honour_withdrawals
from lethe.requests import evidence


class Killed(BaseException):
    """Stands for the process dying right after the store transaction committed."""


def test_evidence_survives_a_crash_after_the_commit(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    sends = shop.one("SELECT count(*) FROM newsletter_sends")

    def die(flow: str) -> None:
        raise Killed(flow)

    monkeypatch.setattr(evidence, "_after_commit", die)
    with pytest.raises(Killed):
        honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="crashed")
    erased = sends - shop.one("SELECT count(*) FROM newsletter_sends")
    assert erased > 0  # committed
    assert not [e for e in shop.entries() if e.entry.rule == "consent:newsletter"]  # not yet in the ledger
    monkeypatch.setattr(evidence, "_after_commit", None)
    honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="next")
    recovered = [e.entry for e in shop.entries() if e.entry.rule == "consent:newsletter"]
    assert [e.run_id for e in recovered] == ["crashed", "next"]
    assert (
        recovered[0].counts["shop.newsletter_sends"] == erased
        and recovered[1].counts["shop.newsletter_sends"] == 0
    )
