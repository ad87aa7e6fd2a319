"""A subject's consent records as receipts in the shape of ISO/IEC 27560 consent records.

One receipt per row of the policy's consent table (``consent:``) that belongs to the subject, with the record
fields Lethe can fill from the row and the policy: ``record`` (schema version, record id, the subject's key
as the PII principal id), ``pii_processing`` (the notice version, the purpose, its lawful basis, the
controller), ``party_identification`` (the controller) and ``event`` (given, and withdrawn when it was).
Field names follow the 27560 working draft's JSON example (DPV's guide to 27560). The receipts go into the
subject's own export only: nothing of them reaches logs or the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lethe.errors import StoreError
from lethe.policy.model import Policy
from lethe.stores.engines import Stores

SCHEMA_VERSION = "ISO/IEC 27560:2023 (fields of the DPV-27560 JSON example)"
CONTROLLER_ID = "C01"


def _instant(value: Any, zone: tzinfo) -> str | None:
    """ISO 8601 in UTC; naive values (MariaDB DATETIME, SQLite text) are read in the store's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return moment.astimezone(UTC).isoformat()
    return str(value)


def consent_receipts(policy: Policy, stores: Stores, subject: str, key: Any) -> list[dict[str, Any]]:
    """The receipts of every consent row of ``subject``'s ``key`` (empty without a ``consent:`` block)."""
    consent = policy.consent
    if consent is None or consent.subject != subject:
        return []
    table = stores.sa_table(consent.table.store, consent.table.table)
    zone = ZoneInfo(policy.stores[consent.table.store].timezone)
    c = table.c
    columns = [c[consent.purpose_column], c[consent.granted], c[consent.withdrawn]]
    if consent.notice_version:
        columns.append(c[consent.notice_version])
    primary = list(table.primary_key.columns)
    query = sa.select(*primary, *columns).where(c[consent.subject_column] == key).order_by(*primary, *columns)
    try:
        with stores.engine(consent.table.store).connect() as connection:
            rows = connection.execute(query).all()
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"store {consent.table.store}: cannot read the consent records ({type(exc).__name__})"
        ) from None
    activities = {a.name: a for a in policy.activities}
    controller = policy.controller
    receipts = []
    for row in rows:
        ids = [str(v) for v in row[: len(primary)]]
        purpose, granted, withdrawn = row[len(primary) : len(primary) + 3]
        notice = row[len(primary) + 3] if consent.notice_version else None
        declared = consent.purposes.get(str(purpose))
        activity = activities.get(declared.activity) if declared and declared.activity else None
        events = [{"event_time": _instant(granted, zone), "type": "explicit", "state": "given"}]
        if withdrawn is not None:
            events.append({"event_time": _instant(withdrawn, zone), "type": "explicit", "state": "withdrawn"})
        receipts.append(
            {
                "record": {
                    "schema_version": SCHEMA_VERSION,
                    "record_id": f"{consent.table}:{':'.join(ids)}",
                    "pii_principal_id": str(key),
                },
                "pii_processing": {
                    "privacy_notice": None if notice is None else str(notice),
                    "purposes": [
                        {
                            "purpose": str(purpose),
                            "purpose_description": (activity.purpose if activity else None)
                            or (declared.description if declared else None),
                            "lawful_basis": "consent",
                            "pii_controllers": [CONTROLLER_ID],
                            "withdrawal_effect": declared.on_withdrawal if declared else None,
                        }
                    ],
                },
                "party_identification": [
                    {
                        "party_id": CONTROLLER_ID,
                        "party_name": controller.name,
                        "party_address": controller.address,
                        "party_role": "PII Controller",
                    }
                ],
                "event": events,
                "state": "withdrawn" if withdrawn is not None else "given",
            }
        )
    return receipts
