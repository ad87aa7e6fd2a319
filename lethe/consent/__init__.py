"""Consent records (GDPR Art. 7): where consent is kept, what it covers, and that withdrawals are honoured.

The policy's ``consent:`` block names the consent table and, per purpose, what withdrawing it does to the data
processed only under it. ``consent_report`` counts consents per purpose and notice version and proves that
withdrawals are honoured (rows left, subjects unrestricted: counts); ``honour_withdrawals`` erases or
restricts what the policy says for every subject whose consent for a purpose is withdrawn, and records it
in the ledger (counts and keyed fingerprints). The subject's own receipts are part of the access export
(``lethe.requests.export.receipts``).
"""

from lethe.consent.records import ConsentTable, open_consent
from lethe.consent.report import ConsentReport, consent_report
from lethe.consent.withdrawal import WithdrawalResult, honour_withdrawals, record_withdrawal

__all__ = [
    "ConsentReport",
    "ConsentTable",
    "WithdrawalResult",
    "consent_report",
    "honour_withdrawals",
    "open_consent",
    "record_withdrawal",
]
