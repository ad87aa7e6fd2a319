"""Builders of the key exposure tests: a ``people`` table, a policy using every keyed operator, the secrets.

``people`` is both a retention rule's table (rows older than a year are anonymised, marked in
``anonymised_at``) and a subject's identity table (erasure anonymises the same columns): hmac on ``email``,
fake on ``name`` and ``city``, noise on ``born`` and ``amount``. ``secrets`` lists what must never reach
the database outside the one short key-binding statement of a transaction: each column key, the
key-dependent half of its HMAC pads (the rest is constant padding), raw and in hex.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lethe.ledger.chain import Ledger
from lethe.operators.dialects import _pads, column_key
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import erase_subject
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.stores.engines import Stores
from support.retention import MASTER_KEY_HEX, make_settings

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
KEYED = {"email": "hmac", "name": "fake", "city": "fake", "born": "noise", "amount": "noise"}
OPERATORS = """
  email: {operator: hmac}
  name: {operator: fake, kind: name}
  city: {operator: fake, kind: city}
  born: {operator: noise, days: 30}
  amount: {operator: noise, amount: 5}
"""
BINDING = ("SELECT set_config(", "SET @lethe_k_", "SELECT lethe_set_key(")  # what bind_keys sends


def policy_text(tokens: str) -> str:
    """The policy of the ``people`` table with ``tokens: in_database`` or ``in_process``."""
    columns = textwrap.indent(OPERATORS.strip("\n"), " " * 12)
    rule_columns = textwrap.indent(OPERATORS.strip("\n"), " " * 6)
    return f"""\
version: 1
controller: {{name: Test Ltd}}
stores:
  db: {{url: "${{DB_URL}}", timezone: UTC, tokens: {tokens}}}
subjects:
  person:
    store: db
    table: people
    key: id
    lookup: [email]
    erasure:
      tables:
        db.people:
          action: anonymise
          reason: "kept pseudonymised for the tests"
          columns:
{columns}
retention:
  - name: people-1y
    table: db.people
    after: 1 year
    since: created_at
    action: anonymise
    mark: anonymised_at
    columns:
{rule_columns}
"""


def people_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``people`` table (not created)."""
    return sa.Table(
        "people",
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(120)),
        sa.Column("city", sa.String(60)),
        sa.Column("born", sa.Date),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("anonymised_at", sa.DateTime),
    )


def seed_people(engine: sa.Engine, old: int, recent: int) -> sa.Table:
    """(Re)create ``people``: ids 1..old are three years old, the next ``recent`` ones a day old."""
    table = people_table()
    table.drop(engine, checkfirst=True)
    table.create(engine)
    rows = [
        {
            "id": i,
            "email": f"p{i}@example.com",
            "name": None if i % 7 == 0 else f"Person {i}",
            "city": "Lyon",
            "born": date(1980, 1, 1) + timedelta(days=37 * i),
            "amount": Decimal(i * 25) / 100,
            "created_at": (AS_OF - timedelta(days=3 * 365 if i <= old else 1)).replace(tzinfo=None),
        }
        for i in range(1, old + recent + 1)
    ]
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)
    return table


def make_policy(db_url: str, tokens: str) -> Policy:
    return parse_policy(policy_text(tokens), environ={"DB_URL": db_url})


def secrets() -> tuple[list[bytes], list[str]]:
    """What must not appear: every column key and its pads' key-dependent half, as bytes and as hex."""
    raw: list[bytes] = []
    for column, purpose in KEYED.items():
        key = column_key(bytes.fromhex(MASTER_KEY_HEX), purpose, f"db.people.{column}", 1)
        ipad, opad = _pads(key)
        raw += [key, ipad[: len(key)], opad[: len(key)]]
    return raw, [text for b in raw for text in (b.hex(), b.hex().upper())]


def _values(params: Any) -> Iterator[Any]:
    """Every parameter value of a statement, whatever shape the driver call had."""
    if isinstance(params, dict):
        yield from params.values()
    elif isinstance(params, list | tuple):
        for item in params:
            yield from _values(item) if isinstance(item, dict | list | tuple) else [item]


def reveals(statement: str, params: Any) -> bool:
    """True when a statement's text or parameters hold a key or pad (raw or hex)."""
    raw, texts = secrets()
    if any(t in statement for t in texts):
        return True
    for value in _values(params):
        value = getattr(value, "obj", value)  # psycopg wraps bytes in Binary(obj)
        if isinstance(value, bytes | bytearray | memoryview) and any(r in bytes(value) for r in raw):
            return True
        if isinstance(value, str) and any(t in value for t in texts):
            return True
    return False


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement and its parameters sent on ``engine`` meanwhile."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)


def retain_and_erase(db_url: str, tokens: str, tmp_path: Path, batch_size: int = 10) -> list[tuple[str, Any]]:
    """Enforce the retention rule, then erase the first recent person; return what was sent to the store."""
    policy = make_policy(db_url, tokens)
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = make_settings(tmp_path)
    ledger = Ledger.from_settings(settings)
    try:
        with Stores(policy) as stores, captured(stores.engine("db")) as sent:
            run = RetentionRun(policy, stores, settings, AS_OF, ledger=ledger)
            enforce_rule(run, policy.rule("people-1y"), batch_size=batch_size)
            erase_subject(
                policy, stores, settings, "person", "p31@example.com", ledger=ledger, run_id="erase"
            )
    finally:
        ledger._engine.dispose()
    return sent


def snapshot(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """Every row of ``people`` in key order, without the retention mark (the run's instant)."""
    table = people_table()
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.id)).all()
    return [tuple(row)[:-1] for row in rows]
