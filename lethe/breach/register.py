"""``open_breach``: the breach register entry (Art. 33(5)) in the ledger, the drafts and the contact list.

Writes into ``<out>/<breach id>/``: ``notification.md`` and ``notification.html`` (to the supervisory
authority; as a processor, to each affected controller under ``controllers/``), ``scope.json`` (names and
counts) and ``contacts.csv.enc``: the affected subjects' keys and contact points (the policy's
``breach.contact_columns``, else the identity table's email and phone columns), encrypted as it is written
with the export cipher (``lethe.requests.export.crypto``), so it never exists in clear on disk. The ledger
gets one entry per breach: counts, category names, instants and the drafts' SHA-256; never a value.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.breach.assessment import Assessment, assess_communication
from lethe.breach.clock import deadline
from lethe.breach.notification import draft_notification, render_html, render_markdown
from lethe.breach.scope import BreachScope, ScopeRequest, compute_scope, scope_keys
from lethe.errors import LetheError, ParameterError, StoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy
from lethe.requests.export.crypto import check_passphrase, encrypted_output
from lethe.stores.engines import Stores

FLOW = "breach"
CONTACT_CATEGORIES = ("user.contact.email", "user.contact.phone_number")


@dataclass(frozen=True)
class BreachResult:
    """What opening a breach wrote: where, its scope (counts), the gaps, the controllers notified."""

    breach_id: str
    folder: Path
    scope: BreachScope
    gaps: list[str]
    due: datetime
    aware_at: datetime
    contacts: Path | None
    contacts_count: int
    controllers: list[str] = field(default_factory=list)


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def contact_columns(policy: Policy, kind: str) -> list[str]:
    """The identity table's columns holding contact points of ``kind``'s subjects."""
    if policy.breach.contact_columns:
        return list(policy.breach.contact_columns)
    definition = policy.subjects[kind]
    for ref, table_map in policy.data_map.items():
        if ref.store == definition.store and ref.table == definition.table:
            return [c for c, spec in table_map.columns.items() if spec.category in CONTACT_CATEGORIES]
    return []


def _write_contacts(policy: Policy, stores: Stores, scope: BreachScope, target: Path, passphrase: str) -> int:
    """The contact list of every kind of subject in scope, encrypted as written; the rows it holds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["subject", "key", "column", "value"])
    count = 0
    for kind in scope.subjects_by_kind:
        definition = policy.subjects[kind]
        identity = stores.sa_table(definition.store, definition.table)
        columns = contact_columns(policy, kind)
        keys = scope_keys(policy, stores, scope, kind).subquery()
        query = sa.select(identity.c[definition.key], *(identity.c[c] for c in columns)).where(
            identity.c[definition.key].in_(sa.select(keys.c.k))
        )
        try:
            with stores.engine(definition.store).connect() as connection:
                for row in connection.execute(query.order_by(identity.c[definition.key])):
                    count += 1
                    for column, value in zip(columns, row[1:], strict=True):
                        if value is not None:
                            writer.writerow([kind, row[0], column, value])
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {definition.store}: cannot read contact points ({type(exc).__name__})"
            ) from None
    with encrypted_output(target, passphrase) as sealed:
        sealed.write(buffer.getvalue().encode("utf-8"))
    return count


def _affected_controllers(policy: Policy, stores: Stores, scope: BreachScope) -> list[str]:
    """Processor mode: the controllers whose rows are in scope (all of them without ``controller_column``)."""
    breach = policy.breach
    if breach.role != "processor":
        return []
    column = breach.controller_column
    if column is None:
        return sorted(breach.controllers)
    values: set[str] = set()
    seen_column = False
    for t in scope.tables:
        store, _, name = t.table.partition(".")
        table = stores.sa_table(store, name)
        if column not in table.c:
            continue
        seen_column = True
        with stores.engine(store).connect() as connection:
            values |= {str(v) for v in connection.execute(sa.select(table.c[column]).distinct()).scalars()}
    if not seen_column:
        return sorted(breach.controllers)
    return sorted(name for name, party in breach.controllers.items() if (party.key or name) in values)


def open_breach(
    policy: Policy,
    stores: Stores,
    *,
    ledger: Ledger,
    request: ScopeRequest,
    description: str,
    out_dir: Path,
    run_id: str,
    passphrase: str | None,
    aware_at: datetime | None = None,
) -> BreachResult:
    """Compute the scope, write the drafts and the encrypted contact list, record the register entry."""
    started = datetime.now(UTC)
    aware = (aware_at or started).astimezone(UTC)
    if request.started and request.ended and request.started > request.ended:
        raise ParameterError("--from is after --to")
    if passphrase is not None:
        check_passphrase(passphrase)
    ledger.check_writable()
    scope = compute_scope(policy, stores, request)  # unknown names refused before anything is written
    breach_id = f"BR-{aware.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    folder = out_dir / breach_id
    try:
        folder.mkdir(parents=True, exist_ok=False)
        authority = (
            policy.breach.authority.name if policy.breach.authority else "the lead supervisory authority"
        )
        controllers = _affected_controllers(policy, stores, scope)
        common: dict[str, Any] = dict(
            description=description, aware_at=aware, started=request.started, ended=request.ended
        )
        if policy.breach.role == "processor":
            drafts = {
                f"controllers/{name}": draft_notification(
                    policy, breach_id, scope, recipient=policy.breach.controllers[name].name, **common
                )
                for name in controllers
            }
        else:
            drafts = {
                "notification": draft_notification(policy, breach_id, scope, recipient=authority, **common)
            }
        digests = {}
        for stem, draft in drafts.items():
            digests[stem] = _write(folder / f"{stem}.md", render_markdown(draft))
            _write(folder / f"{stem}.html", render_html(draft))
        gaps = list(next(iter(drafts.values())).gaps) if drafts else []
        if policy.breach.role == "processor" and not controllers:
            gaps.append(
                f"no declared controller's rows are in scope (by {policy.breach.controller_column}): whose are they?"
            )
        _write(folder / "scope.json", json.dumps(asdict(scope), indent=1) + "\n")
        contacts: Path | None = None
        count = 0
        if passphrase is not None and scope.subjects_by_kind:
            contacts = folder / "contacts.csv.enc"
            count = _write_contacts(policy, stores, scope, contacts, passphrase)
        else:
            gaps = [*gaps, "the subjects' contact list (give a passphrase to write it encrypted)"]
    except OSError as exc:
        raise LetheError(f"cannot write the breach files into {out_dir} ({type(exc).__name__})") from None
    due = deadline(aware)
    ledger.append(
        LedgerEntry(
            run_id=run_id, flow=FLOW, policy_hash=policy.hash, action="breach-open", outcome="recorded",
            started_at=started, ended_at=datetime.now(UTC), rule=f"breach:{breach_id}",
            counts={"subjects": scope.subjects, "records": scope.records, "tables": len(scope.tables),
                    "special_categories": len(scope.special_categories), "contacts": count,
                    "controllers": len(controllers), "gaps": len(gaps)},
            details={"breach": breach_id, "categories": ",".join(scope.categories),
                     "special": ",".join(scope.special_categories), "aware_at": aware.isoformat(),
                     "due": due.isoformat(), "from": request.started.isoformat() if request.started else None,
                     "to": request.ended.isoformat() if request.ended else None, "role": policy.breach.role,
                     "drafts_sha256": ",".join(f"{k}:{v}" for k, v in sorted(digests.items())),
                     "contacts_encrypted": contacts is not None},
        )
    )  # fmt: skip
    return BreachResult(breach_id, folder, scope, gaps, due, aware, contacts, count, controllers)


def record_assessment(
    policy: Policy, *, ledger: Ledger, breach_id: str, answers: dict[str, bool], run_id: str
) -> Assessment:
    """The Art. 34 recommendation for an opened breach, recorded in the ledger beside its register entry."""
    started = datetime.now(UTC)
    opened = [
        e.entry
        for e in ledger.entries()
        if e.entry.action == "breach-open" and e.entry.rule == f"breach:{breach_id}"
    ]
    if not opened:
        raise ParameterError(f"no breach {breach_id!r} in the ledger (lethe breach open records one)")
    special = bool(opened[-1].counts.get("special_categories"))
    assessment = assess_communication(answers, special_categories=special)
    ledger.append(
        LedgerEntry(
            run_id=run_id, flow=FLOW, policy_hash=policy.hash, action="breach-assessment",
            outcome=assessment.recommendation, started_at=started, ended_at=datetime.now(UTC),
            rule=f"breach:{breach_id}", details={"breach": breach_id, "reason": assessment.reason,
                                                 **{k: v for k, v in assessment.answers.items()}},
        )
    )  # fmt: skip
    return assessment
