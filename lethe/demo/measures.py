"""The demo's consent and breach steps: one customer withdraws a consent, and a breach is opened.

``withdraw_one_consent`` plays the shop's preference centre (the lowest customer whose newsletter consent
holds unticks it); ``open_demo_breach`` opens a breach of the customers table and the session IPs. Both
print counts only; the contact list is written (encrypted) when ``LETHE_BREACH_PASSPHRASE`` is set.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lethe.breach.register import BreachResult, open_breach
from lethe.breach.scope import ScopeRequest
from lethe.consent.records import open_consent
from lethe.consent.withdrawal import record_withdrawal
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

BREACHES = Path("var/demo/breaches")
PURPOSE = "newsletter"


def withdraw_one_consent(policy_path: str, purpose: str = PURPOSE) -> int:
    """Record that one customer withdrew ``purpose``; return the consent rows ended (0: nobody holds one)."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        consent = open_consent(policy, stores)
        query = sa.select(sa.func.min(consent.subject)).where(
            consent.purpose == purpose, consent.withdrawn.is_(None)
        )
        with consent.engine.connect() as connection:
            key = connection.execute(query).scalar()
        if key is None:
            return 0
        return record_withdrawal(policy, stores, purpose, key)


def open_demo_breach(policy_path: str, out_dir: Path = BREACHES) -> BreachResult:
    """Open a breach of shop.customers and the sessions' IP addresses over the last hour."""
    policy = load_policy(policy_path)
    settings = load_settings()
    ended = datetime.now().astimezone()
    with Stores(policy) as stores:
        return open_breach(
            policy, stores, ledger=Ledger.from_settings(settings),
            request=ScopeRequest(
                tables=("shop.customers",), columns=("shop.web_sessions.ip_address",),
                started=ended - timedelta(hours=1), ended=ended,
            ),
            description="demo: a copy of the customer table and session logs was readable from a public bucket",
            out_dir=out_dir, run_id=str(uuid.uuid4()), passphrase=os.environ.get("LETHE_BREACH_PASSPHRASE") or None,
        )  # fmt: skip
