"""The tamper-evident evidence ledger: one append-only, HMAC-chained entry per step of every run.

Each entry's signed body is canonical JSON of the entry; ``mac_n = HMAC(k, mac_{n-1} || seq_n || body_n)``
with ``k = HKDF(LETHE_LEDGER_KEY, "lethe/ledger/v1")`` and 32 zero bytes before the first entry. A head row
keeps the last ``(seq, mac)`` under its own MAC, so a truncated tail is visible. Entries carry counts and
keyed fingerprints of keys, never personal values (``lethe.ledger.entry`` refuses anything else).

What ``verify`` detects, and what it cannot without an anchor kept elsewhere:

| change made by someone without the key                           | detected |
|-------------------------------------------------------------------|----------|
| any column or the body of an entry modified (incl. its MAC)       | yes: first modified seq |
| an entry deleted in the middle                                    | yes: seq gap |
| entries reordered (bodies/MACs or seq values swapped)             | yes: "out of order" |
| tail truncated, head row left in place                            | yes: head beyond the last entry |
| head row deleted while entries exist                              | yes |
| head row forged or edited                                         | yes: head MAC invalid |
| entries beyond the head (forged, or an old head row restored)     | yes |
| ALL entries and the head deleted                                  | only with min_count / expected_head |
| whole table rolled back to an earlier consistent copy, head too   | only with expected_head |
| anything done by someone who holds the ledger key                 | no: protect the key |

``expected_head`` is a ``(seq, mac)`` pair from ``lethe ledger head`` (e.g. the Prefect artifact of the
last run), ``min_count`` a count the operator knows the ledger reached.
"""

from __future__ import annotations

import hmac
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

from lethe.crypto import canonical_json, derive_key
from lethe.errors import LedgerError, LedgerTamperedError, SettingsError
from lethe.ledger.entry import LIMITS, TEXT_COLUMNS, LedgerEntry, RecordedEntry, parse_body, signed_body
from lethe.settings import MIN_KEY_BYTES, Settings

_PAGE = 500
ZERO_MAC = bytes(32)  # the "previous MAC" of entry 1
_ATTEMPTS = 6


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC; naive values read back (SQLite, MariaDB) are UTC by construction."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Microsecond precision on MySQL/MariaDB, whose DATETIME drops fractions by default."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the zone where the column cannot keep it."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name in ("sqlite", "mysql", "mariadb") else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
ledger_table = sa.Table(
    "lethe_ledger",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.String(LIMITS["run_id"]), nullable=False, index=True),
    sa.Column("flow", sa.String(LIMITS["flow"]), nullable=False),
    sa.Column("policy_hash", sa.String(LIMITS["policy_hash"]), nullable=False),
    sa.Column("rule", sa.String(LIMITS["rule"]), nullable=True),
    sa.Column("action", sa.String(LIMITS["action"]), nullable=False),
    sa.Column("outcome", sa.String(LIMITS["outcome"]), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=False),
    # LONGTEXT on MariaDB: its TEXT stops at 64 KiB, less than an entry with many fingerprints.
    sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    sa.Column("mac", sa.CHAR(64), nullable=False),
    # Binary collation: MariaDB's default one would make the run id filter case-insensitive.
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
head_table = sa.Table(
    "lethe_ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("mac", sa.CHAR(64), nullable=False),
    sa.Column("head_mac", sa.CHAR(64), nullable=False),
    mysql_charset="utf8mb4",
)


def _transient(exc: SQLAlchemyError) -> bool:
    """True for races another attempt can win: a taken seq, a busy SQLite file, a deadlock."""
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", "")).lower()
    return isinstance(exc, OperationalError) and any(
        word in text for word in ("locked", "busy", "deadlock", "lock wait", "could not serialize")
    )


class Ledger:
    """Append to, read and verify the evidence ledger in any SQLAlchemy database."""

    def __init__(self, engine: sa.Engine, key: bytes) -> None:
        """Use ``engine`` for storage and ``key`` (the ledger key, >= 32 bytes) for the MAC chain."""
        if len(key) < MIN_KEY_BYTES:
            raise SettingsError(f"the ledger key must be at least {MIN_KEY_BYTES} bytes")
        self._engine = engine
        self._mac_key = derive_key(key, "lethe/ledger/v1")
        # A separate key for the head, so a head MAC can never pass for an entry MAC or the reverse.
        self._head_key = derive_key(key, "lethe/ledger/head/v1")
        self.url = engine.url.render_as_string(hide_password=True)  # for messages: no password
        self._schema_ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        """Open the ledger named by LETHE_LEDGER_URL, creating a SQLite file's folder if needed."""
        key = settings.require_ledger_key()
        try:
            url = sa.make_url(settings.ledger_url)
            path = url.database or ":memory:"
            # A file path: make its folder, as SQLite creates the file but not the folders on the way.
            if url.get_backend_name() == "sqlite" and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url)
        except ArgumentError as exc:
            raise SettingsError("LETHE_LEDGER_URL is not a usable SQLAlchemy URL") from exc
        except ImportError as exc:
            raise SettingsError("LETHE_LEDGER_URL names a database driver that is not installed") from exc
        return cls(engine, key)

    def create_schema(self) -> None:
        """Create the ledger tables if missing; idempotent and safe against a concurrent creator."""
        if self._schema_ready:
            return
        for attempt in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    metadata.create_all(conn, checkfirst=True)
                break
            except SQLAlchemyError as exc:
                # Two processes may both see "no table" and race to create it; the loser retries.
                if attempt == _ATTEMPTS - 1:
                    raise LedgerError(f"cannot create the ledger tables at {self.url}") from exc
                time.sleep(0.02 * (attempt + 1))
        self._schema_ready = True

    def append(self, entry: LedgerEntry) -> RecordedEntry:
        """Append one entry in its own transaction."""
        return self.append_many([entry])[0]

    def append_many(self, entries: Iterable[LedgerEntry]) -> list[RecordedEntry]:
        """Append entries atomically in one transaction, retrying races with concurrent appenders."""
        batch = list(entries)
        if not batch:
            return []
        self.create_schema()
        for attempt in range(_ATTEMPTS):
            try:
                with self._write_transaction() as conn:
                    return self._append_locked(conn, batch)
            except SQLAlchemyError as exc:
                if attempt == _ATTEMPTS - 1 or not _transient(exc):
                    hint = "if this persists, run `lethe ledger verify`"
                    raise LedgerError(f"cannot write the ledger at {self.url} ({hint})") from exc
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def append_on(self, connection: sa.Connection, entries: Iterable[LedgerEntry]) -> list[RecordedEntry]:
        """Append inside the caller's open transaction on the ledger's database; the caller commits.

        No retry here: a concurrent appender makes this fail loudly, and the caller's transaction must be
        rolled back. On SQLite, start that transaction with ``BEGIN IMMEDIATE`` to avoid such failures.
        """
        batch = list(entries)
        if not batch:
            return []
        # Created through the ledger's own engine: DDL would commit the caller's transaction on MariaDB.
        self.create_schema()
        try:
            return self._append_locked(connection, batch)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot write the ledger at {self.url}") from exc

    def check_writable(self) -> None:
        """Refuse now, before a change, when an entry could not be appended: schema, write lock, head MAC.

        Opens the write transaction an append opens (so it waits for the write lock as long as an append
        would: SQLite's ``timeout``, PostgreSQL's ``lock_timeout``, MariaDB's ``innodb_lock_wait_timeout``),
        checks the head under the key, and rolls back. A wrong key or a forged head raises
        LedgerTamperedError; a lock not obtained, or a database that refuses writes, LedgerError.
        """
        self.create_schema()
        try:
            with self._write_transaction(commit=False) as conn:
                self._chain_start(conn)
        except SQLAlchemyError as exc:
            cause = type(getattr(exc, "orig", None) or exc).__name__  # the class only: drivers echo values
            raise LedgerError(
                f"the ledger at {self.url} cannot be written now ({cause}): another writer holds its "
                "lock beyond the lock timeout, or the database refuses writes; nothing was changed"
            ) from exc

    def entries(
        self, since_seq: int = 0, limit: int | None = None, *, run_id: str | None = None
    ) -> Iterator[RecordedEntry]:
        """Stream entries after ``since_seq`` in seq order, optionally of one run (MACs not checked)."""
        self.create_schema()
        where = [] if run_id is None else [ledger_table.c.run_id == run_id]
        remaining = limit
        for row in self.rows(since_seq, None, where):
            if remaining is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            recorded_at, entry = parse_body(row.seq, row.body)
            yield RecordedEntry(seq=row.seq, recorded_at=recorded_at, entry=entry, mac=row.mac)

    def head(self) -> tuple[int, str] | None:
        """The (seq, mac) of the head row after checking its MAC; None for an empty ledger."""
        self.create_schema()
        head = self.read_head()
        if head is None:
            return None
        if not self.head_ok(head):
            raise LedgerTamperedError("head MAC invalid: the head row was forged or the key is wrong")
        return int(head.seq), str(head.mac)

    # -- the chain, as verification reads it (lethe.ledger.verify) ------------------------------------

    def entry_mac(self, prev: bytes, seq: int, body: bytes) -> bytes:
        """MAC of entry ``seq`` chained to the previous MAC."""
        return hmac.new(self._mac_key, prev + seq.to_bytes(8, "big") + body, sha256).digest()

    def _head_mac(self, seq: int, mac_hex: str) -> str:
        """MAC of the head row, binding the last seq to the last entry MAC."""
        message = b"head" + seq.to_bytes(8, "big") + bytes.fromhex(mac_hex)
        return hmac.new(self._head_key, message, sha256).hexdigest()

    def head_ok(self, head: sa.Row[Any]) -> bool:
        """True when the head row's MAC is valid under our key."""
        try:
            return hmac.compare_digest(self._head_mac(int(head.seq), str(head.mac)), str(head.head_mac))
        except (ValueError, OverflowError):
            return False

    def read_head(self, conn: sa.Connection | None = None) -> sa.Row[Any] | None:
        """The head row; on the caller's ``conn`` locked FOR UPDATE (SQLite ignores it: BEGIN IMMEDIATE)."""
        query = sa.select(head_table).where(head_table.c.id == 1)
        if conn is not None:
            return conn.execute(query.with_for_update()).first()
        with self._engine.connect() as own:
            return own.execute(query).first()

    @contextmanager
    def _write_transaction(self, *, commit: bool = True) -> Iterator[sa.Connection]:
        """A transaction that holds the write lock from its first read, so two appenders serialise.

        Committed at the end, or rolled back without ``commit`` (``check_writable`` only takes the lock).
        """
        if self._engine.dialect.name != "sqlite":
            with self._engine.connect() as conn, conn.begin() as transaction:
                yield conn
                if not commit:
                    transaction.rollback()
            return
        # pysqlite defers BEGIN until the first write; take the lock up front with BEGIN IMMEDIATE.
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.exec_driver_sql("COMMIT" if commit else "ROLLBACK")
            except BaseException:
                with suppress(SQLAlchemyError):
                    conn.exec_driver_sql("ROLLBACK")
                raise

    def _chain_start(self, conn: sa.Connection) -> tuple[sa.Row[Any] | None, int, bytes]:
        """The head row (locked on ``conn``), the last seq and the last MAC, after checking the head."""
        head = self.read_head(conn)
        if head is None:
            if conn.execute(sa.select(ledger_table.c.seq).limit(1)).first() is not None:
                raise LedgerTamperedError("head row missing while entries exist: refusing to append")
            return None, 0, ZERO_MAC
        if not self.head_ok(head):
            raise LedgerTamperedError("head MAC invalid: refusing to append (wrong key or forged head)")
        return head, int(head.seq), bytes.fromhex(head.mac)

    def _append_locked(self, conn: sa.Connection, batch: list[LedgerEntry]) -> list[RecordedEntry]:
        """Chain ``batch`` after the head and write entries and head on ``conn`` (already locked)."""
        head, seq, prev = self._chain_start(conn)
        recorded_at = datetime.now(UTC)
        rows: list[dict[str, object]] = []
        recorded: list[RecordedEntry] = []
        for entry in batch:
            seq += 1
            try:
                body = canonical_json(signed_body(entry, recorded_at))
            except (TypeError, ValueError) as exc:
                raise LedgerError(f"ledger entry for run {entry.run_id} cannot be serialised") from exc
            prev = self.entry_mac(prev, seq, body)
            row: dict[str, object] = {name: getattr(entry, name) for name in TEXT_COLUMNS}
            row.update(seq=seq, recorded_at=recorded_at, body=body.decode("utf-8"), mac=prev.hex())
            row.update(started_at=entry.started_at, ended_at=entry.ended_at)
            rows.append(row)
            recorded.append(RecordedEntry(seq=seq, recorded_at=recorded_at, entry=entry, mac=prev.hex()))
        conn.execute(sa.insert(ledger_table), rows)
        values = {"seq": seq, "mac": prev.hex(), "head_mac": self._head_mac(seq, prev.hex())}
        if head is None:
            conn.execute(sa.insert(head_table).values(id=1, **values))
        else:
            conn.execute(sa.update(head_table).where(head_table.c.id == 1).values(**values))
        return recorded

    def rows(self, after: int, upto: int | None, where: list[Any] | None = None) -> Iterator[sa.Row[Any]]:
        """Rows with ``after < seq <= upto`` in seq order, one short keyset-paged query at a time.

        Short queries, not one long cursor, so a long verify never holds a lock appenders wait on.
        """
        cols = ledger_table.c
        while True:
            query = sa.select(ledger_table).where(cols.seq > after, *(where or [])).order_by(cols.seq)
            if upto is not None:
                query = query.where(cols.seq <= upto)
            try:
                with self._engine.connect() as conn:
                    page = conn.execute(query.limit(_PAGE)).all()
            except SQLAlchemyError as exc:
                raise LedgerError(f"cannot read the ledger at {self.url}") from exc
            yield from page
            if len(page) < _PAGE:
                return
            after = int(page[-1].seq)
