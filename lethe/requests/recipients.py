"""Telling recipients of an erasure, rectification or restriction (GDPR Art. 19).

After a request changed a subject's data, every recipient of the policy's ``recipients:`` block
(``lethe.policy.recipients``) whose tables or categories were touched is told through its channel: a webhook
POST, a row in the outbox table it names (created when missing), or a manual
task. Each recipient gets one ledger entry (``recipient.notify``): its name, the channel, the rows per table
touched and the request's reference; an exception on grounds of disproportionate effort is recorded with its
reason instead. What is sent and stored holds counts and references only, never a value or the identifier.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy
from lethe.policy.recipients import Recipient
from lethe.stores.engines import Stores, ensure_table

ACTIONS = ("erasure", "rectification", "restriction")
WEBHOOK_TIMEOUT = 10.0

# Posts a JSON body to a URL; replaced in tests that must not reach the network. Raises on failure.
Poster = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Notification:
    """How one recipient was told: ``notified``, ``queued`` (outbox), ``manual``, ``exempted`` or ``failed``."""

    recipient: str
    channel: str
    outcome: str
    counts: dict[str, int]
    reason: str | None = None  # disproportionate effort, or the class of the error that failed it


def outbox_table(name: str, schema: str | None = None) -> sa.Table:
    """The outbox table's definition: one row per notification (references and counts only)."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("delivered_at", sa.DateTime, nullable=True),
        schema=schema,
        mysql_charset="utf8mb4",
    )


def touched_tables(policy: Policy, kind: str, subject: str, outcome: Mapping[str, Any]) -> dict[str, int]:
    """Rows per ``store.table`` a request of ``kind`` changed, from its outcome as the request tasks return
    it: an erasure's ``plan`` rows, else the subject's identity table with ``rows`` or ``entries``."""
    if kind == "erasure":
        return {str(t): int(n) for t, action, n, _reason in outcome.get("plan", []) if action != "keep" and n}
    definition = policy.subjects[subject]
    identity = f"{definition.store}.{definition.table}"
    rows = int(outcome.get("rows" if kind == "rectification" else "entries") or 0)
    return {identity: rows} if rows else {}


def touched_recipients(policy: Policy, touched: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """The recipients whose tables or categories ``touched`` (rows per ``store.table``) reached, with the
    counts of the tables that concern each."""
    found: dict[str, dict[str, int]] = {}
    for name, recipient in policy.recipients.items():
        tables = {str(t) for t in recipient.tables}
        wanted = set(recipient.categories)
        counts = {}
        for table, rows in touched.items():
            table_map = next((m for ref, m in policy.data_map.items() if str(ref) == table), None)
            categories = {c.category for c in table_map.columns.values()} if table_map else set()
            if table in tables or categories & wanted:
                counts[table] = rows
        if counts:
            found[name] = counts
    return found


def recipients_for_subject(policy: Policy, subject: str) -> list[tuple[str, Recipient]]:
    """The recipients that receive data of this kind of subject (Art. 15(1)(c)): by its tables or the
    categories of its tables and processing activities."""
    definition = policy.subjects.get(subject)
    tables = {f"{definition.store}.{definition.table}"} if definition else set()
    categories: set[str] = set()
    for ref, table_map in policy.data_map.items():
        if table_map.subject == subject or str(ref) in tables:
            tables.add(str(ref))
            categories |= {c.category for c in table_map.columns.values()}
    for activity in policy.activities:
        if subject in activity.subjects:
            categories |= set(activity.categories)
    return [
        (name, r)
        for name, r in policy.recipients.items()
        if {str(t) for t in r.tables} & tables or set(r.categories) & categories
    ]


def post_json(url: str, body: bytes) -> None:
    """POST ``body`` as JSON; raise on a non-2xx answer or a network error."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as answer:
        if not 200 <= answer.status < 300:
            raise urllib.error.HTTPError(url, answer.status, "not 2xx", answer.headers, None)


def notify_recipients(
    policy: Policy,
    stores: Stores,
    action: str,
    touched: Mapping[str, int],
    *,
    request_id: str | None,
    ledger: Ledger,
    run_id: str,
    post: Poster = post_json,
) -> list[Notification]:
    """Tell each recipient ``touched`` concerns of ``action`` on request ``request_id``; record each."""
    if action not in ACTIONS:
        raise ValueError(f"recipients are told of {', '.join(ACTIONS)}, not {action}")
    done: list[Notification] = []
    for name, counts in touched_recipients(policy, touched).items():
        recipient = policy.recipients[name]
        started = datetime.now(UTC)
        note = Notification(name, recipient.channel, "notified", counts)
        if recipient.disproportionate_effort:
            note = replace(note, outcome="exempted", reason=recipient.disproportionate_effort)
        elif recipient.channel == "manual":
            note = replace(note, outcome="manual", reason=recipient.instructions)
        else:
            message = {
                "recipient": name, "action": action, "request": request_id, "tables": counts,
                "article": "GDPR Art. 19", "sent_at": started.isoformat(timespec="seconds"),
            }  # fmt: skip
            try:
                if recipient.channel == "webhook":
                    post(str(recipient.url), json.dumps(message).encode())
                else:
                    _queue(stores, recipient, name, action, request_id, counts, started)
                    note = replace(note, outcome="queued")
            except (OSError, SQLAlchemyError, urllib.error.URLError) as exc:
                note = replace(
                    note, outcome="failed", reason=type(getattr(exc, "orig", None) or exc).__name__
                )
        details: dict[str, str | int | float | bool | None] = {
            "recipient": name, "channel": recipient.channel, "action": action, "request": request_id,
        }  # fmt: skip
        if note.reason:
            details["reason"] = note.reason[:400]
        ledger.append(
            LedgerEntry(
                run_id=run_id, flow=action, policy_hash=policy.hash, action="recipient.notify",
                outcome=note.outcome, started_at=started, ended_at=datetime.now(UTC), counts=counts,
                details=details,
            )
        )  # fmt: skip
        done.append(note)
    return done


def _queue(
    stores: Stores,
    recipient: Recipient,
    name: str,
    action: str,
    request_id: str | None,
    counts: Mapping[str, int],
    at: datetime,
) -> None:
    """Insert the notification into the recipient's outbox table (created when missing)."""
    ref = recipient.outbox
    assert ref is not None  # checked by the policy model
    schema, _, table_name = ref.table.rpartition(".")
    engine = stores.engine(ref.store)
    table = outbox_table(table_name, schema or None)
    ensure_table(engine, table)
    with engine.begin() as connection:
        connection.execute(
            table.insert().values(
                id=str(uuid.uuid4()), recipient=name, action=action, request_id=request_id,
                counts=json.dumps(dict(counts), sort_keys=True), created_at=at.replace(tzinfo=None),
            )
        )  # fmt: skip
