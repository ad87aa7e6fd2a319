"""Rectification (Art. 16) and restriction or objection (Art. 18 and 21): requests that change how one
subject's data is held rather than removing it.

``rectify_subject`` updates columns of the subject's identity row from request parameters. Only the columns
the policy lists under ``rectification.columns`` may change (anything else is refused before any change),
and each value is converted to the column's type and checked against its length before the ``UPDATE``, so a
value that does not fit is refused with a message naming the column, never the value. The ledger records
the fingerprint of the subject's key and the NAMES of the changed columns, never an old or a new value.

Both change a store only after the ledger is known to be writable, and journal the change in the same
store transaction (``lethe.requests.evidence``): the ledger gets the journalled entry after the commit, or
the next run on the store copies it there when this one died in between. A rectification retried after such
a crash, by a lookup value it changed, is answered ``completed-earlier`` rather than "not found".

``restrict_subject`` and ``lift_restriction`` put the subject in the restriction register
(``lethe.requests.restriction``) or take it out; processing flows and exports exclude registered subjects, while
retention and erasure still apply to them (Art. 18(2): storage is not stopped by restriction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import StoreError, SubjectError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy, TableRef
from lethe.requests import restriction
from lethe.requests.evidence import (
    COMPLETED_EARLIER,
    CompletedEarlier,
    answer_completed_earlier,
    change_leaves,
    copy_evidence,
    identifier_prints,
    journal_change,
    prepare_evidence,
    remembering,
)
from lethe.requests.register import RequestError, type_name
from lethe.requests.subjects import resolve_subject
from lethe.requests.tracking import SubjectRef, resolve_for_request, track_request
from lethe.retention.sql import reflect_table
from lethe.settings import Settings
from lethe.stores.engines import Stores
from lethe.stores.schema import ColumnInfo

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass(frozen=True)
class RectificationResult:
    """What a rectification changed: the names of the columns, never their values."""

    subject: str
    key_fingerprint: str
    columns: tuple[str, ...]
    rows: int
    run_id: str
    request_id: str | None
    started_at: datetime
    ended_at: datetime
    outcome: str = "completed"  # or completed-earlier: a retry of a rectification an interrupted run made


def convert_value(column: ColumnInfo, sql_type: sa.types.TypeEngine[Any], text: str | None) -> Any:
    """``text`` as a value of the column; RequestError naming the column (not the value) when it does not fit.

    An empty text or None means NULL, allowed only in a nullable column.
    """
    if text is None or text == "":
        if not column.nullable:
            raise RequestError(f"column {column.name} cannot be empty (NOT NULL)")
        return None
    try:
        if column.kind == "text":
            if column.length is not None and len(text) > column.length:
                raise RequestError(
                    f"the new value of {column.name} has {len(text)} characters; "
                    f"the column holds {column.length}"
                )
            return text
        if column.kind == "integer":
            return int(text.strip())
        if column.kind == "numeric":
            number = Decimal(text.strip())
            scale = getattr(sql_type, "scale", None)
            precision = getattr(sql_type, "precision", None)
            if scale is not None and precision is not None:
                exponent = number.as_tuple().exponent
                digits = len(number.as_tuple().digits)
                if isinstance(exponent, int) and (-exponent > scale or digits + exponent > precision - scale):
                    raise RequestError(
                        f"the new value of {column.name} does not fit NUMERIC({precision},{scale})"
                    )
            return number
        if column.kind == "date":
            return date.fromisoformat(text.strip())
        if column.kind == "datetime":
            return datetime.fromisoformat(text.strip())
        if column.kind == "boolean":
            lowered = text.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError
            return lowered in _TRUE
    except (ValueError, InvalidOperation):
        raise RequestError(f"the new value of {column.name} is not a valid {column.kind}") from None
    raise RequestError(f"column {column.name} ({column.sql_type}) cannot be rectified from text")


def rectify_subject(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    changes: Mapping[str, str | None],
    *,
    ledger: Ledger,
    run_id: str,
    received_at: datetime | None = None,
    request_id: str | None = None,
) -> RectificationResult:
    """Update declared columns of one subject's identity row in one transaction; record names, not values."""
    started = datetime.now(UTC)
    store = _subject_store(policy, subject)
    definition = policy.subjects[subject]
    if not changes:
        raise RequestError("nothing to rectify: give at least one column=value")
    allowed = definition.rectification.columns
    refused = sorted(set(changes) - set(allowed))
    if refused:
        raise RequestError(
            f"{', '.join(refused)} may not be rectified for {subject}; the policy allows "
            f"{', '.join(allowed) or 'no column'} (subjects.{subject}.rectification.columns)"
        )
    info = stores.table(TableRef(store=definition.store, table=definition.table))
    table = reflect_table(stores, definition.store, definition.table)
    values = {
        name: convert_value(info.column(name), table.c[name].type, text) for name, text in changes.items()
    }
    journals = prepare_evidence(ledger, stores, [store])
    resolve = remembering(
        lambda text: resolve_subject(policy, stores, subject, text, settings), stores, store, settings, subject,
        flow="rectification", action="rectify",
    )  # fmt: skip
    try:
        ref = resolve_for_request(
            policy, stores, settings, subject, identifier, request_type="rectification", ledger=ledger,
            run_id=run_id, flow="rectification", action="rectify", started_at=started, resolve=resolve,
            request_id=request_id,
        )  # fmt: skip
    except CompletedEarlier as earlier:
        request_id = answer_completed_earlier(
            settings,
            ledger,
            earlier,
            run_id=run_id,
            policy_hash=policy.hash,
            action="rectify",
            started=started,
        )
        done = earlier.entry
        names = str(done.details.get("columns") or "")
        return RectificationResult(
            subject, done.fingerprints[0], tuple(names.split(",")) if names else (), done.counts.get("rows", 0),
            run_id, request_id, started, datetime.now(UTC), COMPLETED_EARLIER,
        )  # fmt: skip
    columns = tuple(sorted(values))
    key_column = table.c[definition.key]

    def record(outcome: str, request_id: str, rows: int) -> LedgerEntry:
        return LedgerEntry(
            run_id=run_id, flow="rectification", policy_hash=policy.hash, action="rectify", outcome=outcome,
            started_at=started, ended_at=datetime.now(UTC), counts={"rows": rows, "columns": len(columns)},
            fingerprints=[ref.key_fingerprint],
            details={"subject": subject, "request": request_id, "columns": ",".join(columns)},
        )  # fmt: skip

    with track_request(
        settings,
        "rectification",
        subject,
        ref.key_fingerprint,
        received_at=received_at,
        request_id=request_id,
    ) as request:
        try:
            with stores.engine(store).begin() as connection:
                taken = [
                    name
                    for name in definition.lookup
                    if values.get(name) is not None
                    and connection.execute(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(table.c[name] == values[name], key_column != ref.key)
                    ).scalar_one()
                ]
                if taken:
                    # A lookup value must keep identifying one subject, or later requests become ambiguous.
                    request.finish(
                        "refused", f"refused: the new {', '.join(taken)} identifies another {subject}"
                    )
                    ledger.append(record("refused", request.id, 0))
                    raise RequestError(
                        f"the new {', '.join(taken)} already identifies another {subject}: refused"
                    )
                rows = int(
                    connection.execute(sa.update(table).where(key_column == ref.key).values(values)).rowcount
                )
                if rows != 1:
                    raise VerificationError(f"rectification changed {rows} rows instead of 1; rolled back")
                # The identifier (and the key) name the change, so a retry by an old value finds it.
                named = identifier_prints(settings, subject, [identifier, ref.key])
                journal_change(
                    connection, journals[store], record("completed", request.id, rows), match=named,
                    leaves=change_leaves(settings, store, {definition.table: [ref.key]}),
                )  # fmt: skip
        except SQLAlchemyError as exc:
            raise StoreError(f"store {store}: rectification failed ({type_name(exc)})") from None
        copy_evidence(ledger, stores, [store], "rectification")
        request.finish("completed", f"rectified: {', '.join(columns)}")
    return RectificationResult(
        subject, ref.key_fingerprint, columns, rows, run_id, request.id, started, datetime.now(UTC)
    )


# -------------------------------------------------------------------------------- restriction, objection


@dataclass(frozen=True)
class RestrictionResult:
    """What a restriction request (or lifting one) did to the register."""

    subject: str
    key_fingerprint: str
    kind: str  # restriction | objection | lift
    ground: str | None
    activities: tuple[str, ...]
    entries: int  # register entries added (or already there) / lifted
    run_id: str
    request_id: str | None


def _check_activities(policy: Policy, subject: str, activities: Sequence[str]) -> None:
    """Named activities exist, process this subject and respect restriction."""
    known = {a.name: a for a in policy.activities}
    for name in activities:
        activity = known.get(name)
        if activity is None:
            raise RequestError(
                f"unknown activity {name!r}; the policy has {', '.join(sorted(known)) or 'none'}"
            )
        if subject not in activity.subjects:
            raise RequestError(f"activity {name!r} does not process {subject} subjects")
        if not activity.respects_restriction:
            raise RequestError(
                f"activity {name!r} is declared `respects_restriction: false`: it cannot be restricted"
            )


def restrict_subject(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    ground: str,
    activities: Sequence[str] = (),
    objection: bool = False,
    ledger: Ledger,
    run_id: str,
    received_at: datetime | None = None,
    request_id: str | None = None,
) -> RestrictionResult:
    """Register a restriction (Art. 18) or objection (Art. 21) for all activities or the named ones."""
    started = datetime.now(UTC)
    if ground not in restriction.GROUNDS:
        raise RequestError(f"unknown ground {ground!r}; valid: {', '.join(restriction.GROUNDS)}")
    _check_activities(policy, subject, activities)
    kind: restriction.Kind = "objection" if objection else "restriction"
    store = _subject_store(policy, subject)
    journals = prepare_evidence(ledger, stores, [store])
    ref = resolve_for_request(
        policy, stores, settings, subject, identifier, request_type=kind, ledger=ledger, run_id=run_id,
        flow="restriction", action=f"{kind}.add", started_at=started, request_id=request_id,
    )  # fmt: skip
    with track_request(
        settings, kind, subject, ref.key_fingerprint, received_at=received_at, request_id=request_id
    ) as request:

        def journal(connection: sa.Connection, ids: list[int]) -> None:
            entry = _restriction_entry(
                policy, ref, f"{kind}.add", run_id, started, request.id, len(ids), ground
            )
            journal_change(connection, journals[store], entry)

        try:
            ids = restriction.restrict(
                stores.engine(store), subject=subject, subject_key=ref.key, kind=kind, ground=ground,
                activities=activities, request_id=request.id, journal=journal,
            )  # fmt: skip
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot register the {kind} ({type_name(exc)})") from None
        copy_evidence(ledger, stores, [store], "restriction")
        scope = ", ".join(activities) or "every activity that respects restriction"
        request.finish("completed", f"{kind} registered ({ground}) for {scope}")
    return RestrictionResult(
        subject, ref.key_fingerprint, kind, ground, tuple(activities), len(ids), run_id, request.id
    )


def lift_restriction(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    ledger: Ledger,
    run_id: str,
) -> RestrictionResult:
    """End every active restriction and objection of the subject (Art. 18(3): tell the subject first)."""
    started = datetime.now(UTC)
    store = _subject_store(policy, subject)
    journals = prepare_evidence(ledger, stores, [store])
    ref = resolve_for_request(
        policy, stores, settings, subject, identifier, request_type="restriction", ledger=ledger,
        run_id=run_id, flow="restriction", action="restriction.lift", register=False, started_at=started,
    )  # fmt: skip

    def journal(connection: sa.Connection, lifted: int) -> None:
        entry = _restriction_entry(policy, ref, "restriction.lift", run_id, started, None, lifted, None)
        journal_change(connection, journals[store], entry)

    try:
        lifted = restriction.lift(stores.engine(store), subject=subject, subject_key=ref.key, journal=journal)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot lift the restriction ({type_name(exc)})") from None
    copy_evidence(ledger, stores, [store], "restriction")
    return RestrictionResult(subject, ref.key_fingerprint, "lift", None, (), lifted, run_id, None)


def _subject_store(policy: Policy, subject: str) -> str:
    """The store of the subject's identity table (its register and journal); an unknown kind is refused."""
    definition = policy.subjects.get(subject)
    if definition is None:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    return definition.store


def _restriction_entry(
    policy: Policy,
    ref: SubjectRef,
    action: str,
    run_id: str,
    started: datetime,
    request_id: str | None,
    entries: int,
    ground: str | None,
) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id, flow="restriction", policy_hash=policy.hash, action=action, outcome="completed",
        started_at=started, ended_at=datetime.now(UTC), counts={"entries": entries},
        fingerprints=[ref.key_fingerprint],
        details={"subject": ref.subject, "request": request_id, "ground": ground},
    )  # fmt: skip
