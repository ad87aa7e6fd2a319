"""Consent records: the report's counts, withdrawals honoured (erase and restrict), the ledger, the policy."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from support.shop import DEMO, Shop, fingerprint_of, open_shop

from lethe.consent import consent_report, honour_withdrawals, record_withdrawal
from lethe.errors import ParameterError, PolicyError
from lethe.policy.loading import parse_policy
from lethe.requests.export.archive import export_subject
from lethe.requests.restriction import active

RESTRICT = DEMO.read_text().replace(
    """      on_withdrawal: erase                # the send log exists only because of this consent
      tables:
        shop.newsletter_sends: {subject_column: customer_id}""",
    "      on_withdrawal: restrict",
)


def active_newsletter_subject(shop: Shop) -> int:
    """A customer whose newsletter consent holds and who has sends."""
    return int(
        shop.one(
            "SELECT min(c.customer_id) FROM marketing_consents c WHERE c.purpose = 'newsletter' "
            "AND c.withdrawn_at IS NULL AND EXISTS (SELECT 1 FROM newsletter_sends s WHERE s.customer_id = c.customer_id)"
        )
    )


def test_report_counts_match_the_table(shop: Shop) -> None:
    report = consent_report(shop.policy, shop.stores)
    given = sum(n.given for n in report.notices)
    assert given == shop.one("SELECT count(*) FROM marketing_consents")
    assert sum(n.withdrawn for n in report.notices) == shop.one(
        "SELECT count(*) FROM marketing_consents WHERE withdrawn_at IS NOT NULL"
    )
    versions = {n.notice_version for n in report.notices}
    assert versions == {r[0] for r in shop.rows("SELECT DISTINCT notice_version FROM marketing_consents")}
    assert {n.purpose for n in report.notices} == {"newsletter", "profiling"}


def test_withdrawal_erases_the_purposes_data_and_is_recorded(shop: Shop) -> None:
    before = consent_report(shop.policy, shop.stores)
    newsletter = next(c for c in before.withdrawals if c.purpose == "newsletter")
    assert (
        newsletter.withdrawn_subjects > 0 and not before.honoured
    )  # the demo has sends of withdrawn subjects
    key = active_newsletter_subject(shop)
    assert record_withdrawal(shop.policy, shop.stores, "newsletter", key) == 1
    sends = shop.one("SELECT count(*) FROM newsletter_sends")
    result = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="run-1")
    outcome = next(o for o in result.purposes if o.purpose == "newsletter")
    erased = outcome.rows["shop.newsletter_sends"]
    assert erased > 0 and shop.one("SELECT count(*) FROM newsletter_sends") == sends - erased
    assert shop.one("SELECT count(*) FROM newsletter_sends WHERE customer_id = :k", k=key) == 0
    assert (
        shop.one("SELECT count(*) FROM marketing_consents WHERE customer_id = :k", k=key) >= 1
    )  # proof kept
    after = consent_report(shop.policy, shop.stores)
    assert after.honoured
    entry = next(e.entry for e in shop.entries() if e.entry.rule == "consent:newsletter")
    assert entry.counts["shop.newsletter_sends"] == erased
    assert len(entry.fingerprints) == outcome.handled_subjects
    assert fingerprint_of(shop, key) in entry.fingerprints
    again = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="run-2")
    assert next(o for o in again.purposes if o.purpose == "newsletter").rows == {"shop.newsletter_sends": 0}


def test_dry_run_changes_nothing(shop: Shop) -> None:
    before = shop.snapshot()
    result = honour_withdrawals(
        shop.policy, shop.stores, shop.settings, ledger=None, run_id="r", dry_run=True
    )
    assert (
        result.dry_run
        and next(o for o in result.purposes if o.purpose == "newsletter").rows["shop.newsletter_sends"] > 0
    )
    assert shop.snapshot() == before and shop.entries() == []


def test_withdrawal_restricts_when_the_policy_says(db_url: str, tmp_path: Path) -> None:
    with open_shop(db_url, tmp_path, policy_text=RESTRICT) as shop:
        sends = shop.one("SELECT count(*) FROM newsletter_sends")
        assert not consent_report(shop.policy, shop.stores).honoured
        result = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="r")
        outcome = next(o for o in result.purposes if o.purpose == "newsletter")
        assert outcome.restricted == outcome.withdrawn_subjects > 0
        assert shop.one("SELECT count(*) FROM newsletter_sends") == sends  # restricted, not erased
        withdrawn = shop.one(
            "SELECT min(customer_id) FROM marketing_consents WHERE purpose = 'newsletter' AND withdrawn_at IS NOT NULL "
            "AND customer_id NOT IN (SELECT customer_id FROM marketing_consents WHERE purpose = 'newsletter' "
            "AND withdrawn_at IS NULL)"
        )
        entries = active(shop.stores.engine("shop"), subject="customer", subject_key=withdrawn)
        assert [(e.activity, e.ground) for e in entries] == [("newsletter", "consent-withdrawn")]
        assert consent_report(shop.policy, shop.stores).honoured
        again = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="r2")
        assert next(o for o in again.purposes if o.purpose == "newsletter").restricted == 0


def test_export_carries_consent_receipts(shop: Shop, tmp_path: Path) -> None:
    key = active_newsletter_subject(shop)
    result = export_subject(
        shop.policy, shop.stores, "customer", str(key), tmp_path / "out", settings=shop.settings, ledger=None,
        run_id="r",
    )  # fmt: skip
    with zipfile.ZipFile(result.path) as archive:
        receipts = json.loads(archive.read("consent.json"))["consent_records"]
    assert len(receipts) == shop.one("SELECT count(*) FROM marketing_consents WHERE customer_id = :k", k=key)
    first = receipts[0]
    assert first["record"]["pii_principal_id"] == str(key)
    assert first["pii_processing"]["purposes"][0]["lawful_basis"] == "consent"
    assert first["pii_processing"]["privacy_notice"].startswith("v")
    assert first["event"][0]["state"] == "given" and first["event"][0]["event_time"].endswith("+00:00")


def test_unknown_purpose_refused_before_any_change(shop: Shop) -> None:
    before = shop.snapshot()
    with pytest.raises(ParameterError, match="unknown consent purpose"):
        honour_withdrawals(
            shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="r", purposes=["x"]
        )
    assert shop.snapshot() == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      on_withdrawal: erase ", "      on_withdrawal: burn ", "on_withdrawal"),
        (
            "  subject: customer\n  subject_column: customer_id\n  purpose_column",
            "  subject: nobody\n  subject_column: customer_id\n  purpose_column",
            "unknown subject",
        ),
        (
            "      activity: newsletter\n      on_withdrawal",
            "      activity: nothing\n      on_withdrawal",
            "unknown activity",
        ),
        (
            "      on_withdrawal: keep\n      reason:",
            "      on_withdrawal: keep\n      # reason:",
            "needs `reason:`",
        ),
    ],
)
def test_bad_consent_block_refused_at_load(old: str, new: str, message: str) -> None:
    text = DEMO.read_text()
    assert old in text
    with pytest.raises(PolicyError, match=message):
        parse_policy(text.replace(old, new), source="demo.yaml", environ={"LETHE_DEMO_URL": "sqlite:///x.db"})


def test_consents_without_a_notice_version_are_counted_apart(shop: Shop) -> None:
    shop.execute("UPDATE marketing_consents SET notice_version = NULL WHERE id <= 3")
    report = consent_report(shop.policy, shop.stores)
    unversioned = sum(n.given for n in report.notices if n.notice_version == "(none recorded)")
    assert unversioned == 3 and sum(n.given for n in report.notices) == shop.one(
        "SELECT count(*) FROM marketing_consents"
    )


def test_a_legal_hold_wins_over_a_withdrawal(shop: Shop) -> None:
    key = active_newsletter_subject(shop)
    assert record_withdrawal(shop.policy, shop.stores, "newsletter", key) == 1
    shop.execute("UPDATE customers SET legal_hold = :t WHERE id = :k", t=True, k=key)
    held_expected = shop.one(
        "SELECT count(DISTINCT c.customer_id) FROM marketing_consents c JOIN customers u ON u.id = c.customer_id"
        " WHERE c.purpose = 'newsletter' AND c.withdrawn_at IS NOT NULL AND u.legal_hold = :t AND NOT EXISTS ("
        "SELECT 1 FROM marketing_consents h WHERE h.customer_id = c.customer_id AND h.purpose = 'newsletter'"
        " AND h.withdrawn_at IS NULL)",
        t=True,
    )
    sends = shop.one("SELECT count(*) FROM newsletter_sends WHERE customer_id = :k", k=key)
    assert sends > 0 and held_expected >= 1

    dry = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=None, run_id="dry", dry_run=True)
    assert next(o for o in dry.purposes if o.purpose == "newsletter").held == held_expected
    result = honour_withdrawals(shop.policy, shop.stores, shop.settings, ledger=shop.ledger, run_id="run-h")

    outcome = next(o for o in result.purposes if o.purpose == "newsletter")
    assert outcome.held == held_expected
    assert shop.one("SELECT count(*) FROM newsletter_sends WHERE customer_id = :k", k=key) == sends  # kept
    entry = next(e.entry for e in shop.entries() if e.entry.rule == "consent:newsletter")
    assert entry.counts["held_subjects"] == held_expected
    assert fingerprint_of(shop, key) not in entry.fingerprints
    report = consent_report(shop.policy, shop.stores)
    newsletter = next(c for c in report.withdrawals if c.purpose == "newsletter")
    assert newsletter.honoured and newsletter.held_subjects == held_expected
