"""The storage of the request register: the table ``lethe_requests``, its rows, due dates and queries.

The table lives in Lethe's own state database, the ledger's (``LETHE_LEDGER_URL``), created on first use. A
row names the subject by its kind and a keyed fingerprint, never by an identifier; outcomes are short texts
without personal values. How requests use it (one request however many attempts) is ``lethe.requests.tracking``.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import LetheError, SettingsError, StoreError
from lethe.ledger.chain import UTCDateTime
from lethe.policy.periods import Period
from lethe.settings import Settings
from lethe.stores.engines import create_store_engine, ensure_table

RequestType = Literal["access", "portability", "erasure", "rectification", "restriction", "objection"]
Status = Literal["open", "completed", "refused", "not-found"]
REQUEST_TYPES: tuple[str, ...] = get_args(RequestType)
EXPORT_TYPES = ("access", "portability")  # one export answers both (Art. 15 and 20)
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


def open_requests(
    engine: Engine,
    type: str,
    subject: str,
    fingerprints: Sequence[str],
    *,
    received_at: datetime | None = None,
) -> list[RequestRecord]:
    """``open_request`` for many subjects (a queue) in one transaction; the records in the order given."""
    if type not in REQUEST_TYPES:
        raise RequestError(f"unknown request type {type!r}; valid: {', '.join(REQUEST_TYPES)}")
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    due = due_date(received)
    records = [
        RequestRecord(str(uuid.uuid4()), type, subject, fp, received, due, "open", None, None)
        for fp in fingerprints
    ]
    if not records:
        return []
    table = ensure_register(engine)
    rows = [
        {
            "id": r.id, "type": type, "subject": subject, "subject_fingerprint": r.subject_fingerprint,
            "received_at": received, "due_at": due, "status": "open",
        }
        for r in records
    ]  # fmt: skip
    try:
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None
    return records


def close_requests(
    engine: Engine, closes: Sequence[tuple[str, str, str]], *, closed_at: datetime | None = None
) -> list[str]:
    """Close open requests, each ``(id, status, outcome)``, in one transaction; return the ids that were not
    open any more (closed meanwhile, or unknown) and were left as they were."""
    if not closes:
        return []
    for _, status, _ in closes:
        if status not in STATUSES or status == "open":
            raise RequestError(f"a request closes as one of {', '.join(s for s in STATUSES if s != 'open')}")
    table = ensure_register(engine)
    when = closed_at or datetime.now(UTC)
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("r_id"), table.c.status == "open")
        .values(status=sa.bindparam("r_status"), outcome=sa.bindparam("r_outcome"), closed_at=when)
    )
    params = [{"r_id": i, "r_status": st, "r_outcome": o[:OUTCOME_LIMIT]} for i, st, o in closes]
    ids = [i for i, _, _ in closes]
    query = sa.select(table.c.id).where(table.c.id.in_(ids), table.c.status == "open")
    try:
        with engine.begin() as connection:
            if connection.dialect.name != "sqlite":
                query = query.with_for_update()
            was_open = set(connection.execute(query).scalars())
            if was_open:
                connection.execute(statement, [p for p in params if p["r_id"] in was_open])
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None
    return [i for i in ids if i not in was_open]


def note_request(engine: Engine, request_id: str, outcome: str) -> None:
    """Set the outcome text of a request that stays open (e.g. why an attempt failed)."""
    table = ensure_register(engine)
    try:
        with engine.begin() as connection:
            open_one = sa.and_(table.c.id == request_id, table.c.status == "open")
            connection.execute(table.update().where(open_one).values(outcome=outcome[:OUTCOME_LIMIT]))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {REGISTER_TABLE} ({type_name(exc)})") from None


def get_request(engine: Engine, request_id: str) -> RequestRecord:
    """One request by id."""
    table = ensure_register(engine)
    try:
        uuid.UUID(request_id)
    except ValueError:
        # Not an id this register gives out; not repeated, in case someone pasted an identifier here.
        raise RequestError(
            "no such request in the register: a request id is a UUID as `lethe requests` lists it"
        ) from None
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.select(table).where(table.c.id == request_id)).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {REGISTER_TABLE} ({type_name(exc)})") from None
    if row is None:
        raise RequestError(f"no request {request_id} in the register")
    return RequestRecord(*row)


def _continues(attempt: str, request: str) -> bool:
    """Whether an attempt of type ``attempt`` answers a request of type ``request``."""
    return attempt == request or {attempt, request} <= set(EXPORT_TYPES)


def find_open_request(
    engine: Engine, type: str, subject: str, subject_fingerprint: str
) -> RequestRecord | None:
    """The oldest open request of this type (an export: access or portability) for this subject, if any."""
    table = ensure_register(engine)
    types = list(EXPORT_TYPES) if type in EXPORT_TYPES else [type]
    query = (
        sa.select(table)
        .where(
            table.c.subject_fingerprint == subject_fingerprint, table.c.status == "open",
            table.c.subject == subject, table.c.type.in_(types),
        )
        .order_by(table.c.received_at, table.c.id)
        .limit(1)
    )  # fmt: skip
    try:
        with engine.connect() as connection:
            row = connection.execute(query).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {REGISTER_TABLE} ({type_name(exc)})") from None
    return None if row is None else RequestRecord(*row)


def find_open_requests(
    engine: Engine, type: str, subject: str, fingerprints: Sequence[str]
) -> dict[str, RequestRecord]:
    """``find_open_request`` for many subjects in one query: by fingerprint, the oldest open request."""
    if not fingerprints:
        return {}
    table = ensure_register(engine)
    types = list(EXPORT_TYPES) if type in EXPORT_TYPES else [type]
    query = (
        sa.select(table)
        .where(
            table.c.subject_fingerprint.in_(sorted(set(fingerprints))), table.c.status == "open",
            table.c.subject == subject, table.c.type.in_(types),
        )
        .order_by(table.c.received_at.desc(), table.c.id.desc())
    )  # fmt: skip
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {REGISTER_TABLE} ({type_name(exc)})") from None
    # Newest first, so the oldest of a subject's open requests is the one left in the dict.
    return {row.subject_fingerprint: RequestRecord(*row) for row in rows}


def check_request(
    engine: Engine, request_id: str, type: str, subject: str, subject_fingerprint: str | None = None
) -> RequestRecord:
    """The open request ``request_id`` an attempt continues; RequestError when it is unknown, closed, of
    another type or kind of subject, or (with ``subject_fingerprint``) for another subject."""
    record = get_request(engine, request_id)
    if record.status != "open":
        raise RequestError(f"request {request_id} is already closed ({record.status}); leave out --request")
    if not _continues(type, record.type) or record.subject != subject:
        raise RequestError(
            f"request {request_id} is a {record.type} request of a {record.subject}, not a {type} request "
            f"of a {subject}"
        )
    if subject_fingerprint is not None and record.subject_fingerprint != subject_fingerprint:
        raise RequestError(f"request {request_id} is for another {subject}")
    return record


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
