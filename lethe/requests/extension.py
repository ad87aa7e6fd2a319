"""Art. 12(3) extensions: a request's deadline extended by two further months, with the reason.

GDPR Art. 12(3): the one-month period "may be extended by two further months where necessary, taking into
account the complexity and number of the requests"; the subject must be told of the extension, with the
reasons for the delay, within one month of receipt. ``extend_request`` moves the register's due date to three
months after receipt, notes on the request the date by which the subject must be told (the original due date),
and records the extension in the ledger (request, reason, dates; never a personal value). A request is
extended once, while open and before its original deadline has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import StoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.periods import Period
from lethe.requests.register import (
    REGISTER_TABLE,
    RESPONSE_PERIOD,
    RequestError,
    due_date,
    ensure_register,
    get_request,
    type_name,
)

EXTENSION = Period(months=2)  # Art. 12(3): "by two further months"
REASON_LIMIT = 300


@dataclass(frozen=True)
class Extension:
    """An extension granted: the request, its old and new due dates, and when the subject must be told."""

    request_id: str
    reason: str
    previous_due: datetime
    due: datetime
    tell_by: datetime


def extend_request(
    engine: Engine,
    request_id: str,
    reason: str,
    *,
    ledger: Ledger,
    run_id: str,
    now: datetime | None = None,
) -> Extension:
    """Extend the open request ``request_id`` by two months (Art. 12(3)); record it in ``ledger``."""
    reason = " ".join(reason.split())
    if not reason:
        raise RequestError("an extension needs its reason (Art. 12(3): the subject is told the reasons)")
    if len(reason) > REASON_LIMIT:
        raise RequestError(f"the reason must be at most {REASON_LIMIT} characters")
    started = datetime.now(UTC)
    moment = (now or started).astimezone(UTC)
    record = get_request(engine, request_id)
    if record.status != "open":
        raise RequestError(f"request {request_id} is closed ({record.status}): nothing to extend")
    original = due_date(record.received_at, RESPONSE_PERIOD)
    if record.due_at > original + timedelta(days=1):
        raise RequestError(f"request {request_id} was already extended (due {record.due_at:%Y-%m-%d})")
    if moment > original:
        raise RequestError(
            f"request {request_id} was due {original:%Y-%m-%d}: an extension must be told to the subject "
            "within one month of receipt"
        )
    total = Period(months=RESPONSE_PERIOD.months + EXTENSION.months)
    extended = Extension(request_id, reason, record.due_at, due_date(record.received_at, total), original)
    note = (
        f"extended (Art. 12(3)) to {extended.due:%Y-%m-%d}; tell the subject by {original:%Y-%m-%d}: {reason}"
    )
    table = ensure_register(engine)
    try:
        with engine.begin() as connection:
            changed = connection.execute(
                table.update()
                .where(table.c.id == request_id, table.c.status == "open", table.c.due_at == record.due_at)
                .values(due_at=extended.due, outcome=note)
            ).rowcount
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None
    if not changed:
        raise RequestError(f"request {request_id} changed meanwhile (closed or extended): try again")
    entry = (
        LedgerEntry(
            run_id=run_id, flow="requests", policy_hash="", action="request.extend", outcome="extended",
            started_at=started, ended_at=datetime.now(UTC),
            details={
                "request": request_id, "type": record.type, "reason": reason,
                "previous_due": extended.previous_due.isoformat(), "due": extended.due.isoformat(),
                "tell_by": extended.tell_by.isoformat(),
            },
        )
    )  # fmt: skip
    try:
        ledger.append(entry)
    except BaseException:
        # No extension without its evidence: the register goes back to what it said.
        with engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.id == request_id)
                .values(due_at=record.due_at, outcome=record.outcome)
            )
        raise
    return extended
