"""The restriction register (Art. 18) and objections (Art. 21): subjects whose data must not be processed.

The register is a table, ``lethe_restrictions``, in the store that holds the subject's identity table, so
processing queries can exclude restricted subjects in SQL (``excluded_keys``) and the DPIA can check that
they did. A restriction covers all activities that respect restriction, or only the named ones (an
objection to direct marketing names the newsletter). Retention and erasure still apply to restricted
subjects: storage is not processing that restriction stops (Art. 18(2)).

Keys are stored as text (the identity key's text form), so one register serves subjects of any key type;
comparisons cast the other side to text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.errors import SubjectError
from lethe.stores.engines import ensure_table

REGISTER_TABLE = "lethe_restrictions"
Kind = Literal["restriction", "objection"]
# Grounds, as the request form offers them.
GROUNDS: dict[str, str] = {
    "accuracy-contested": "Art. 18(1)(a): the subject contests the accuracy of the data",
    "unlawful-processing": "Art. 18(1)(b): processing is unlawful and the subject opposes erasure",
    "legal-claims": "Art. 18(1)(c): the subject needs the data for legal claims",
    "objection-pending": "Art. 18(1)(d): an objection under Art. 21(1) is being verified",
    "direct-marketing": "Art. 21(2): objection to processing for direct marketing",
    "legitimate-interests": "Art. 21(1): objection to processing based on legitimate interests",
    "consent-withdrawn": "Art. 7(3): consent withdrawn; the activity it was the basis of stops for the subject",
}


def register_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The register's table definition."""
    return sa.Table(
        REGISTER_TABLE,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("subject_key", sa.String(255), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "activity", sa.String(200), nullable=True
        ),  # NULL: every activity that respects restriction
        sa.Column("ground", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
    )


def ensure_register(engine: Engine) -> sa.Table:
    """Create the register in the store when missing; return it."""
    table = register_table()
    ensure_table(engine, table)
    return table


@dataclass(frozen=True)
class Restriction:
    """An entry of the register (its key stays out of repr: it identifies a person)."""

    id: int
    subject: str
    kind: str
    activity: str | None
    ground: str
    since: datetime
    lifted_at: datetime | None


def restrict(
    engine: Engine,
    *,
    subject: str,
    subject_key: Any,
    kind: Kind,
    ground: str,
    activities: Sequence[str] = (),
    request_id: str | None = None,
    now: datetime | None = None,
    journal: Callable[[sa.Connection, list[int]], None] | None = None,
) -> list[int]:
    """Add active entries (one per activity, or one for all); return their ids. Repeats are not duplicated.

    ``journal`` is called with the ids on the same transaction before it commits (the change's evidence).
    """
    if ground not in GROUNDS:
        raise SubjectError(f"unknown ground {ground!r}; valid: {', '.join(GROUNDS)}")
    table = ensure_register(engine)
    moment = now or datetime.now(UTC)
    ids: list[int] = []
    with engine.begin() as connection:
        targets: list[str | None] = list(activities) or [None]
        for activity in targets:
            existing = connection.execute(
                sa.select(table.c.id).where(
                    table.c.subject == subject,
                    table.c.subject_key == str(subject_key),
                    table.c.kind == kind,
                    table.c.activity.is_(None) if activity is None else table.c.activity == activity,
                    table.c.lifted_at.is_(None),
                )
            ).scalar()
            if existing is not None:
                ids.append(int(existing))
                continue
            result = connection.execute(
                table.insert().values(
                    subject=subject, subject_key=str(subject_key), kind=kind, activity=activity,
                    ground=ground, request_id=request_id, since=moment,
                )
            )  # fmt: skip
            ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        if journal is not None:
            journal(connection, ids)
    return ids


def lift(
    engine: Engine,
    *,
    subject: str,
    subject_key: Any,
    now: datetime | None = None,
    journal: Callable[[sa.Connection, int], None] | None = None,
) -> int:
    """End every active entry of a subject (Art. 18(3): the subject is told before); return how many.

    ``journal`` is called with the count on the same transaction before it commits.
    """
    table = ensure_register(engine)
    with engine.begin() as connection:
        result = connection.execute(
            table.update()
            .where(
                table.c.subject == subject,
                table.c.subject_key == str(subject_key),
                table.c.lifted_at.is_(None),
            )
            .values(lifted_at=now or datetime.now(UTC))
        )
        if journal is not None:
            journal(connection, int(result.rowcount))
    return int(result.rowcount)


def active(engine: Engine, *, subject: str, subject_key: Any) -> list[Restriction]:
    """The subject's active entries."""
    table = ensure_register(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table)
            .where(
                table.c.subject == subject,
                table.c.subject_key == str(subject_key),
                table.c.lifted_at.is_(None),
            )
            .order_by(table.c.id)
        ).all()
    return [Restriction(r.id, r.subject, r.kind, r.activity, r.ground, r.since, r.lifted_at) for r in rows]


def excluded_keys(subject: str, activity: str) -> sa.Select[Any]:
    """Keys (as text) of subjects that ``activity`` must not process now: use as ``NOT IN`` in SQL."""
    table = register_table()
    return sa.select(table.c.subject_key).where(
        table.c.subject == subject,
        table.c.lifted_at.is_(None),
        sa.or_(table.c.activity.is_(None), table.c.activity == activity),
    )


def not_restricted(key_column: sa.ColumnElement[Any], subject: str, activity: str) -> sa.ColumnElement[bool]:
    """Predicate for processing queries: the row's subject is not restricted for ``activity``."""
    return sa.cast(key_column, sa.String(255)).not_in(excluded_keys(subject, activity))
