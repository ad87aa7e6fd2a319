"""The request register (Art. 12(3)): every data-subject request, its due date and its outcome.

A request is answered "without undue delay and in any event within one month of receipt": ``due_at`` is
``received_at`` plus one calendar month (31 January + 1 month = 28 or 29 February, on the UTC calendar).
The register is the table ``lethe_requests`` in Lethe's own state database, the ledger's
(``LETHE_LEDGER_URL``), created on first use. A row names the subject by its kind and a keyed fingerprint,
never by an identifier; outcomes are short texts without personal values.

Erasure, rectification and restriction record themselves through ``track_request``; ``resolve_for_request``
makes an unknown subject a recorded "not found" and an ambiguous identifier a recorded refusal (register and
ledger), never a traceback. ``lethe requests`` lists what is open, due soon and overdue.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprint
from lethe.errors import AmbiguousSubjectError, LetheError, SettingsError, StoreError, SubjectError
from lethe.ledger import Ledger, LedgerEntry, UTCDateTime
from lethe.periods import Period
from lethe.policy import Policy
from lethe.settings import Settings
from lethe.stores import Stores, create_store_engine, ensure_table
from lethe.subjects import resolve_subject

RequestType = Literal["access", "portability", "erasure", "rectification", "restriction", "objection"]
Status = Literal["open", "completed", "refused", "not-found"]
REQUEST_TYPES: tuple[str, ...] = get_args(RequestType)
STATUSES: tuple[str, ...] = get_args(Status)
REGISTER_TABLE = "lethe_requests"
RESPONSE_PERIOD = Period(months=1)  # Art. 12(3)
DEFAULT_DUE_SOON_DAYS = 7
OUTCOME_LIMIT = 500
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_engines: dict[str, Engine] = {}


class RequestError(LetheError):
    """A request cannot be carried out as asked (e.g. a column not open to rectification)."""

    exit_code = 2


def register_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The register's table definition."""
    return sa.Table(
        REGISTER_TABLE,
        metadata or sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("subject_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("outcome", sa.String(OUTCOME_LIMIT), nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        mysql_charset="utf8mb4",
    )


def state_engine(settings: Settings) -> Engine:
    """The engine of Lethe's state database (the ledger's), shared by the process's requests.

    Kept per URL (a few at most), so requests do not connect and check the register anew each time. Opened
    like a store: on SQLite with a busy timeout (the ledger's appends hold the same file's write lock) and
    WAL, so each request's two commits cost one sync each, and ``lethe requests`` reads beside a writer.
    """
    engine = _engines.get(settings.ledger_url)
    if engine is None:
        try:
            engine = create_store_engine(settings.ledger_url)
        except (StoreError, SettingsError) as exc:
            raise SettingsError(f"LETHE_LEDGER_URL is not usable: {exc}") from None
        _engines[settings.ledger_url] = engine
        if len(_engines) > 4:
            _engines.pop(next(iter(_engines))).dispose()
    return engine


_TABLE = register_table()  # one Table object, so statements on it hit SQLAlchemy's compiled cache


def ensure_register(engine: Engine) -> sa.Table:
    """Create the register when missing (checked once per engine); return it."""
    if engine not in _ready:
        ensure_table(engine, _TABLE)
        _ready.add(engine)
    return _TABLE


def due_date(received_at: datetime, period: Period = RESPONSE_PERIOD) -> datetime:
    """When a request received at ``received_at`` must be answered: ``period`` later on the UTC calendar."""
    if received_at.tzinfo is None:
        raise LetheError("the time a request was received must be timezone-aware")
    # Period counts backwards (cut-offs); its negation counts forwards with the same clamping of the day.
    forward = Period(-period.years, -period.months, -period.days, -period.hours)
    return forward.cutoff(received_at.astimezone(UTC))


@dataclass(frozen=True)
class RequestRecord:
    """One request of the register."""

    id: str
    type: str
    subject: str
    subject_fingerprint: str
    received_at: datetime
    due_at: datetime
    status: str
    outcome: str | None
    closed_at: datetime | None

    def state(self, now: datetime, due_soon_days: int = DEFAULT_DUE_SOON_DAYS) -> str:
        """``closed``, ``overdue``, ``due soon`` (within ``due_soon_days``) or ``open``."""
        if self.status != "open":
            return "closed"
        if self.due_at < now:
            return "overdue"
        if self.due_at <= now + timedelta(days=due_soon_days):
            return "due soon"
        return "open"


@dataclass(frozen=True)
class RequestOverview:
    """The open requests at ``now``, in three groups, each by due date."""

    now: datetime
    due_soon_days: int
    overdue: list[RequestRecord] = field(default_factory=list)
    due_soon: list[RequestRecord] = field(default_factory=list)
    open: list[RequestRecord] = field(default_factory=list)


def open_request(
    engine: Engine,
    type: str,
    subject: str,
    subject_fingerprint: str,
    *,
    received_at: datetime | None = None,
) -> RequestRecord:
    """Register a new open request; its due date is one month after receipt."""
    if type not in REQUEST_TYPES:
        raise RequestError(f"unknown request type {type!r}; valid: {', '.join(REQUEST_TYPES)}")
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    record = RequestRecord(
        str(uuid.uuid4()),
        type,
        subject,
        subject_fingerprint,
        received,
        due_date(received),
        "open",
        None,
        None,
    )
    table = ensure_register(engine)
    try:
        with engine.begin() as connection:
            connection.execute(
                table.insert().values(
                    id=record.id, type=type, subject=subject, subject_fingerprint=subject_fingerprint,
                    received_at=received, due_at=record.due_at, status="open",
                )
            )  # fmt: skip
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None
    return record


def close_request(
    engine: Engine, request_id: str, status: str, outcome: str, *, closed_at: datetime | None = None
) -> RequestRecord:
    """Close an open request with its status and outcome (no personal values in ``outcome``)."""
    if status not in STATUSES or status == "open":
        raise RequestError(f"a request closes as one of {', '.join(s for s in STATUSES if s != 'open')}")
    table = ensure_register(engine)
    try:
        with engine.begin() as connection:
            changed = connection.execute(
                table.update()
                .where(table.c.id == request_id, table.c.status == "open")
                .values(
                    status=status, outcome=outcome[:OUTCOME_LIMIT], closed_at=closed_at or datetime.now(UTC)
                )
            ).rowcount
            row = connection.execute(sa.select(table).where(table.c.id == request_id)).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None
    if row is None:
        raise RequestError(f"no request {request_id} in the register")
    if not changed:
        raise RequestError(f"request {request_id} is already closed ({row.status})")
    return RequestRecord(*row)


def note_request(engine: Engine, request_id: str, outcome: str) -> None:
    """Set the outcome text of a request that stays open (e.g. why an attempt failed)."""
    table = ensure_register(engine)
    with engine.begin() as connection:
        open_one = sa.and_(table.c.id == request_id, table.c.status == "open")
        connection.execute(table.update().where(open_one).values(outcome=outcome[:OUTCOME_LIMIT]))


def get_request(engine: Engine, request_id: str) -> RequestRecord:
    """One request by id."""
    table = ensure_register(engine)
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.id == request_id)).first()
    if row is None:
        raise RequestError(f"no request {request_id} in the register")
    return RequestRecord(*row)


def list_requests(
    engine: Engine,
    now: datetime,
    due_soon_days: int = DEFAULT_DUE_SOON_DAYS,
    *,
    subjects: Sequence[str] | None = None,
) -> RequestOverview:
    """The open requests at ``now``: overdue, due within ``due_soon_days``, and the rest."""
    if now.tzinfo is None:
        raise LetheError("now must be timezone-aware")
    table = ensure_register(engine)
    query = sa.select(table).where(table.c.status == "open").order_by(table.c.due_at, table.c.id)
    if subjects is not None:
        query = query.where(table.c.subject.in_(list(subjects)))
    try:
        with engine.connect() as connection:
            records = [RequestRecord(*row) for row in connection.execute(query)]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {REGISTER_TABLE} ({type_name(exc)})") from None
    overview = RequestOverview(now, due_soon_days)
    groups = {"overdue": overview.overdue, "due soon": overview.due_soon, "open": overview.open}
    for record in records:
        groups[record.state(now, due_soon_days)].append(record)
    return overview


def type_name(exc: BaseException) -> str:
    """The driver error's class only: driver messages echo statement parameters."""
    return type(getattr(exc, "orig", None) or exc).__name__


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
) -> Iterator[TrackedRequest]:
    """Open a request on entry; close it on exit with what ``finish`` said (default: completed).

    When the block raises before ``finish`` was called the request stays open, its outcome naming the
    error's class: the request still has to be answered.
    """
    state = engine if engine is not None else state_engine(settings)
    tracked = TrackedRequest(open_request(state, type, subject, key_fingerprint, received_at=received_at))
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
    close_request(state, tracked.id, tracked.status or "completed", tracked.outcome or "completed")


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
    return fingerprint(settings.require_master_key(), f"request-identifier:{subject}", identifier.strip())


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
) -> SubjectRef:
    """Resolve the subject; when nobody or several match, record the outcome and raise SubjectError.

    The outcome goes to the ledger (``not-found`` or ``ambiguous``) and, with ``register``, to the request
    register (status ``not-found`` or ``refused``). An unknown kind of subject is a usage error: raised only.
    ``resolve`` replaces ``subjects.resolve_subject`` (e.g. one on an already reflected table).
    """
    started = started_at or datetime.now(UTC)
    if subject not in policy.subjects:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    settings.require_master_key()
    try:
        key = resolve(identifier) if resolve else resolve_subject(policy, stores, subject, identifier)
    except SubjectError as exc:
        ambiguous = isinstance(exc, AmbiguousSubjectError)
        outcome = "ambiguous" if ambiguous else "not-found"
        request_id: str | None = None
        if register:
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
        raise
    return SubjectRef(subject, key, key_fingerprint(policy, settings, subject, key))
