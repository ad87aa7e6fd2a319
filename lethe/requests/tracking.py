"""How a data-subject request is tracked (Art. 12(3)): found, registered, answered within one month.

A request is answered "without undue delay and in any event within one month of receipt": ``due_at`` is
``received_at`` plus one calendar month (31 January + 1 month = 28 or 29 February, on the UTC calendar). The
register's rows (``lethe.requests.register``) name the subject by its kind and a keyed fingerprint, never by
an identifier.

Erasure, rectification, restriction and the access and portability export record themselves through
``track_request``; ``resolve_for_request`` makes an unknown subject a recorded "not found" and an ambiguous
identifier a recorded refusal (register and ledger), never a traceback. ``lethe requests`` lists what is
open, due soon and overdue.

One request, however many attempts. An attempt that fails leaves its request open with the failure noted;
the next attempt for the same subject (the key's fingerprint) and type continues that request instead of
registering another, and closes it when it succeeds, so a retry never leaves the first attempt overdue. An
attempt may also name the request it continues (``--request ID``, a flow's ``request_id``): it must be open
and of the same type and subject. The access and portability export answer either type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprint
from lethe.errors import AmbiguousSubjectError, LetheError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy
from lethe.requests.reference import recall_subject, remember_subject
from lethe.requests.register import (
    RequestError,
    RequestRecord,
    check_request,
    close_request,
    find_open_request,
    note_request,
    open_request,
    state_engine,
    type_name,
)
from lethe.requests.subjects import resolve_subject
from lethe.settings import Settings
from lethe.stores.engines import Stores


@dataclass
class TrackedRequest:
    """An open request while it is being handled; ``finish`` says how it ends."""

    record: RequestRecord
    status: str | None = None
    outcome: str | None = None

    @property
    def id(self) -> str:
        """The request's id."""
        return self.record.id

    def finish(self, status: str, outcome: str) -> None:
        """Close the request with this status and outcome when the block ends (even by an exception)."""
        self.status, self.outcome = status, outcome


@contextmanager
def track_request(
    settings: Settings,
    type: str,
    subject: str,
    key_fingerprint: str,
    *,
    received_at: datetime | None = None,
    engine: Engine | None = None,
    request_id: str | None = None,
) -> Iterator[TrackedRequest]:
    """Continue (or open) the subject's request on entry; close it on exit with what ``finish`` said
    (default: completed).

    The request continued is ``request_id`` when given (``check_request``), else the subject's open request
    of this type; a new one (received at ``received_at``, default now) only when there is none. When the
    block raises before ``finish`` was called the request stays open, its outcome naming the error's class:
    the request still has to be answered, and the next attempt continues it.
    """
    state = engine if engine is not None else state_engine(settings)
    if request_id is not None:
        record = check_request(state, request_id, type, subject, key_fingerprint)
    else:
        record = find_open_request(state, type, subject, key_fingerprint) or open_request(
            state, type, subject, key_fingerprint, received_at=received_at
        )
    tracked = TrackedRequest(record)
    try:
        yield tracked
    except BaseException as exc:
        # The original error matters more than a failure to note it: the latter is swallowed.
        with suppress(LetheError, SQLAlchemyError):
            if tracked.status is None:
                note_request(state, tracked.id, f"attempt failed ({type_name(exc)}); still open")
            else:
                close_request(state, tracked.id, tracked.status, tracked.outcome or tracked.status)
        raise
    status, outcome = tracked.status or "completed", tracked.outcome or "completed"
    try:
        close_request(state, tracked.id, status, outcome)
    except RequestError:
        # A concurrent attempt closed the request meanwhile: this attempt's outcome is registered on its own.
        extra = open_request(state, type, subject, key_fingerprint, received_at=record.received_at)
        tracked.record = close_request(state, extra.id, status, outcome)


# ------------------------------------------------------------------------------- resolving for a request


@dataclass(frozen=True)
class SubjectRef:
    """A resolved subject: its kind, key (kept out of repr) and the keyed fingerprint of the key."""

    subject: str
    key: Any = field(repr=False)
    key_fingerprint: str


def key_fingerprint(policy: Policy, settings: Settings, subject: str, key: Any) -> str:
    """Fingerprint of a subject's key, scoped like retention's (``store.table``), so entries line up."""
    definition = policy.subjects[subject]
    return fingerprint(settings.require_master_key(), f"{definition.store}.{definition.table}", key)


def identifier_fingerprint(settings: Settings, subject: str, identifier: str) -> str:
    """Fingerprint of an identifier that found nobody: lets a later request for it be matched, not read."""
    # Lone surrogates (undecodable bytes of a command line) have no UTF-8 form: escaped, never raised on.
    text = identifier.strip().encode("utf-8", "backslashreplace").decode("utf-8")
    return fingerprint(settings.require_master_key(), f"request-identifier:{subject}", text)


def resolve_for_request(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    request_type: str,
    ledger: Ledger,
    run_id: str,
    flow: str,
    action: str,
    register: bool = True,
    started_at: datetime | None = None,
    resolve: Callable[[str], Any] | None = None,
    request_id: str | None = None,
) -> SubjectRef:
    """Resolve the subject; when nobody or several match, record the outcome and raise SubjectError.

    The outcome goes to the ledger (``not-found`` or ``ambiguous``) and, with ``register``, to the request
    register (status ``not-found`` or ``refused``). An attempt that names its request (``request_id``,
    checked first: RequestError when it cannot be continued) leaves that request open with the outcome
    noted instead: an identifier that finds nobody is no reason to close a request about a known subject.
    An unknown kind of subject is a usage error: raised only. ``resolve`` replaces
    ``subjects.resolve_subject`` (e.g. one on an already reflected table).
    """
    started = started_at or datetime.now(UTC)
    if subject not in policy.subjects:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    settings.require_master_key()
    if request_id is not None:
        check_request(state_engine(settings), request_id, request_type, subject)
    try:
        key = (
            resolve(identifier) if resolve else resolve_subject(policy, stores, subject, identifier, settings)
        )
    except SubjectError as exc:
        ambiguous = isinstance(exc, AmbiguousSubjectError)
        outcome = "ambiguous" if ambiguous else "not-found"
        if register and request_id is not None:
            found = "no such subject" if outcome == "not-found" else "an identifier matching several subjects"
            note_request(state_engine(settings), request_id, f"an attempt found {found}; still open")
        elif register:
            with track_request(
                settings, request_type, subject, identifier_fingerprint(settings, subject, identifier)
            ) as tracked:
                refused = ("refused", "refused: the identifier matches more than one subject")
                tracked.finish(*(refused if ambiguous else ("not-found", "no such subject")))
                request_id = tracked.id
        ledger.append(
            LedgerEntry(
                run_id=run_id, flow=flow, policy_hash=policy.hash, action=action, outcome=outcome,
                started_at=started, ended_at=datetime.now(UTC),
                details={"subject": subject, "request": request_id},
            )
        )  # fmt: skip
        exc.request_id = request_id
        raise
    return SubjectRef(subject, key, key_fingerprint(policy, settings, subject, key))


def register_request(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    request_type: str,
    ledger: Ledger,
    run_id: str,
    flow: str,
    received_at: datetime | None = None,
    request_id: str | None = None,
) -> str:
    """Resolve the subject and return the open request that answers it, registered when new (D-2).

    With an ``identifier``: as ``resolve_for_request`` (nobody or several found: recorded, SubjectError
    carrying the recording request's id), then the request ``request_id`` names (checked), else the
    subject's open request of this type, else a new one received at ``received_at``; the subject's key is
    sealed for the request (``lethe.requests.reference``), so that later attempts need only its id. Without
    an identifier, ``request_id`` must name an open request of this type whose key was sealed. The request
    stays open: the attempt that answers it closes it.
    """
    state = state_engine(settings)
    if not identifier.strip():
        if request_id is None:
            raise RequestError("give the subject's identifier or the reference of its open request")
        check_request(state, request_id, request_type, subject)
        recall_subject(settings, request_id)  # refuses a request that cannot be continued by reference
        return request_id
    ref = resolve_for_request(
        policy, stores, settings, subject, identifier, request_type=request_type, ledger=ledger,
        run_id=run_id, flow=flow, action="register", request_id=request_id,
    )  # fmt: skip
    if request_id is not None:
        record = check_request(state, request_id, request_type, subject, ref.key_fingerprint)
    else:
        record = find_open_request(state, request_type, subject, ref.key_fingerprint) or open_request(
            state, request_type, subject, ref.key_fingerprint, received_at=received_at
        )
    remember_subject(settings, record.id, ref.key)
    return record.id
