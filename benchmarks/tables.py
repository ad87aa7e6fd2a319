"""The benchmark tables, their deterministic seeds and the retention rules Lethe enforces on them.

Kept apart from the baselines so that B6's child process imports neither pandas nor anything else it does
not need (its peak RSS would grow by the import, at both sizes alike, and hide the growth being measured).

* ``people`` (B1, B6): 40% of rows expired (``x % 5`` in {0, 1}: spread evenly over the key range), the
  others under a year old.
* ``sessions`` with ``CHILDREN`` ``session_events`` each (B2), NOT NULL foreign key, indexed; 40% expired.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from benchmarks.seeding import (
    Data,
    EngineName,
    age_days,
    concat,
    date_plus_days,
    insert_select,
    instant_minus,
    int_div,
)

CUTOFF = datetime(2024, 11, 25)  # AS_OF minus the rules' 2 years, naive UTC like the columns

TABLE = "people"
PEOPLE_RULE = """
- name: people-2y
  table: db.people
  after: 2 years
  since: created_at
  action: anonymise
  columns:
    email: {operator: hmac}
    phone: {operator: "null"}
    birth_date: {operator: generalise, to: year}
"""
CHILDREN = 3  # events per session
SESSIONS_RULE = """
- name: sessions-2y
  table: db.sessions
  after: 2 years
  since: started_at
  action: delete
"""


def people(metadata: sa.MetaData | None = None) -> sa.Table:
    """The table: a key, a name, three personal columns and the anchor timestamp."""
    return sa.Table(
        TABLE,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("full_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("birth_date", sa.Date, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def people_metadata() -> sa.MetaData:
    """The benchmark's tables: ``people``."""
    md = sa.MetaData()
    people(md)
    return md


def seed_people(engine: sa.Engine, dialect: EngineName, rows: int) -> int:
    """Rows 1..rows; x % 5 in {0, 1} are 3+ years old (expired), the others under a year old."""
    x = "seq.x"
    with engine.begin() as connection:
        return insert_select(
            connection,
            TABLE,
            ["id", "full_name", "email", "phone", "birth_date", "created_at"],
            [
                x,
                concat(dialect, "'Person '", x),
                concat(dialect, "'user'", x, "'@example.com'"),
                concat(dialect, "'+44 7700 '", f"{x} % 1000000"),
                date_plus_days(dialect, "1950-01-01", f"{x} * 7919 % 18000"),
                instant_minus(dialect, age_days(x), f"{x} * 37 % 86400"),
            ],
            rows,
        )


def sessions_metadata() -> sa.MetaData:
    """``sessions`` and its child ``session_events``."""
    md = sa.MetaData()
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_ref", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "session_events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("sessions.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
    )
    return md


def seed_sessions(engine: sa.Engine, dialect: EngineName, rows: int) -> int:
    """Sessions 1..rows (x % 5 in {0, 1} expired) and ``CHILDREN`` events per session, dated alike."""
    with engine.begin() as connection:
        return _fill_sessions(connection, dialect, rows)


def _fill_sessions(connection: sa.Connection, dialect: str, rows: int) -> int:
    x = "seq.x"
    written = insert_select(
        connection,
        "sessions",
        ["id", "user_ref", "ip", "started_at"],
        [
            x,
            concat(dialect, "'u-'", f"{x} % 250000"),
            concat(dialect, "'10.0.'", f"{x} % 250", "'.'", f"{x} * 7 % 250"),
            instant_minus(dialect, age_days(x), f"{x} * 37 % 86400"),
        ],
        rows,
    )
    session = f"({int_div(dialect, f'{x} - 1', CHILDREN)} + 1)"
    return written + insert_select(
        connection,
        "session_events",
        ["id", "session_id", "at", "kind"],
        [
            x,
            session,
            instant_minus(dialect, age_days(session), f"{session} * 37 % 86400 + {x} % {CHILDREN}"),
            concat(dialect, "'event-'", f"{x} % {CHILDREN}"),
        ],
        rows * CHILDREN,
    )


PEOPLE = Data(people_metadata(), seed_people)
SESSIONS = Data(sessions_metadata(), seed_sessions)
