"""The tamper-evident evidence ledger: one append-only, HMAC-chained entry per step of every run.

Each entry's signed body is canonical JSON of the entry, with the ids of the keys in use
(``lethe.ledger.keys``); ``mac_n = HMAC(k, mac_{n-1} || seq_n || body_n)`` over the exact bytes stored,
with ``k = HKDF(LETHE_LEDGER_KEY, "lethe/ledger/v1")`` and 32 zero bytes before the first entry. A head row
keeps the last ``(seq, mac)`` under its own MAC, so a truncated tail is visible. Entries carry counts and
keyed fingerprints of keys, never personal values (``lethe.ledger.entry`` refuses anything else).

What ``verify`` detects, and what it cannot without an anchor kept elsewhere:

| change made by someone without the key                           | detected |
|-------------------------------------------------------------------|----------|
| any column or the body of an entry modified (incl. its MAC)       | yes: first modified seq |
| a body re-spelled (spaces, key order, a duplicated key), old MAC  | yes: "not in canonical form" |
| a row inserted at seq <= 0                                        | yes: "outside the chain" |
| a master key changed without a declared rotation                  | refused before a run; verify names the entry |
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
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError

from lethe.crypto import canonical_json, derive_key, key_id
from lethe.errors import LedgerError, LedgerTamperedError, SettingsError
from lethe.ledger.entry import TEXT_COLUMNS, LedgerEntry, RecordedEntry, read_stored, signed_body
from lethe.ledger.keys import KeyIds, KeyRegistry, RegisteredKey, registered_ledger_key, wrong_ledger_key
from lethe.ledger.tables import UTCDateTime, head_table, ledger_table, metadata
from lethe.settings import MIN_KEY_BYTES, Settings

__all__ = ["ZERO_MAC", "Ledger", "UTCDateTime", "head_table", "ledger_table"]  # UTCDateTime: used by requests

_PAGE = 500
ZERO_MAC = bytes(32)  # the "previous MAC" of entry 1
_ATTEMPTS = 6


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

    def __init__(
        self, engine: sa.Engine, key: bytes, *, master_key: bytes | None = None, key_version: int = 1
    ) -> None:
        """Use ``engine`` for storage and ``key`` (the ledger key, >= 32 bytes) for the MAC chain.

        ``master_key`` and ``key_version`` (from the settings) are the master key in use: only their id is
        kept, checked against the key registry (``lethe.ledger.keys``) and recorded in every entry.
        """
        if len(key) < MIN_KEY_BYTES:
            raise SettingsError(f"the ledger key must be at least {MIN_KEY_BYTES} bytes")
        self._engine = engine
        self.key_ids = KeyIds(key_id(key), None if master_key is None else key_id(master_key), key_version)
        self._registry = KeyRegistry(key)
        self._keys_checked = False
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
        return cls(engine, key, master_key=settings.master_key, key_version=settings.key_version)

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
        self.check_keys()
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
            if not self._keys_checked:
                # On the caller's connection: another one would wait for the caller's own write lock.
                self._check_keys_on(connection)
                self._keys_checked = True
            return self._append_locked(connection, batch)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot write the ledger at {self.url}") from exc

    def check_writable(self) -> None:
        """Refuse now, before a change, when an entry could not be appended: schema, write lock, head MAC.

        Opens the write transaction an append opens (so it waits for the write lock as long as an append
        would: SQLite's ``timeout``, PostgreSQL's ``lock_timeout``, MariaDB's ``innodb_lock_wait_timeout``),
        checks the head under the key, and rolls back. A wrong key or a forged head raises
        LedgerTamperedError; a lock not obtained, or a database that refuses writes, LedgerError. A key that
        is not the registered one for its version raises KeyChangedError (``check_keys``).
        """
        self.check_keys()
        try:
            with self._write_transaction(commit=False) as conn:
                self._chain_start(conn)
        except SQLAlchemyError as exc:
            raise self._unwritable(exc) from exc

    def _unwritable(self, exc: SQLAlchemyError) -> LedgerError:
        """The error of a ledger that cannot be written now: a lock not obtained, or writes refused."""
        cause = type(getattr(exc, "orig", None) or exc).__name__  # the class only: drivers echo values
        return LedgerError(
            f"the ledger at {self.url} cannot be written now ({cause}): another writer holds its "
            "lock beyond the lock timeout, or the database refuses writes; nothing was changed"
        )

    def check_keys(self) -> None:
        """Refuse keys other than the registered ones (KeyChangedError); register those seen first here.

        Once per Ledger object, before the first change: a run calls it (through ``check_writable``, the
        first append, or ``RetentionRun``) before it touches data. On a ledger written before the registry,
        the head is checked under the key before the key is registered, so a wrong key is not registered.
        """
        if self._keys_checked:
            return
        self.create_schema()
        for attempt in range(_ATTEMPTS):
            try:
                with self._write_transaction() as conn:
                    self._check_keys_on(conn)
                break
            except IntegrityError:
                # Two first uses at once: the loser's insert fails, and its retry compares with the winner's.
                if attempt == _ATTEMPTS - 1:
                    raise LedgerError(f"cannot register the keys in use at {self.url}") from None
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
            except SQLAlchemyError as exc:
                # A lock not obtained within the lock timeout fails at once, as ``check_writable`` does.
                raise self._unwritable(exc) from exc
        self._keys_checked = True

    def _check_keys_on(self, conn: sa.Connection) -> None:
        try:
            # First the head under the key: a wrong key on a ledger without a registry must not register.
            self._chain_start(conn)
        except LedgerTamperedError:
            registered = registered_ledger_key(conn)
            if registered is not None and registered != self.key_ids.ledger:
                message = wrong_ledger_key(self.key_ids.ledger, registered)
                raise LedgerTamperedError(f"head MAC invalid: {message}: nothing was changed") from None
            raise
        self._registry.check(conn, self.key_ids)

    def connect(self) -> sa.Connection:
        """A connection to the ledger's database (for reads by ``lethe.ledger.verify``)."""
        return self._engine.connect()

    def registered_keys(self) -> list[RegisteredKey]:
        """The key registry, each row's MAC checked (LedgerTamperedError if one was edited)."""
        self.create_schema()
        try:
            with self._engine.connect() as conn:
                return self._registry.read(conn)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot read the key registry at {self.url}") from exc

    def entries(
        self, since_seq: int | None = None, limit: int | None = None, *, run_id: str | None = None
    ) -> Iterator[RecordedEntry]:
        """Stream entries in seq order, after ``since_seq`` or all of them, optionally of one run.

        MACs are not checked (``verify_ledger`` does), but a body not in canonical form is refused
        (LedgerTamperedError naming its seq). Without ``since_seq``, rows stored outside the chain
        (seq <= 0) come first: they are listed, not hidden (``seq_anomalies`` names them).
        """
        self.create_schema()
        where = [] if run_id is None else [ledger_table.c.run_id == run_id]
        if since_seq is None:
            since_seq = min(0, self._lowest_seq() or 0) - 1
        remaining = limit
        for row in self.rows(since_seq, None, where):
            if remaining is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            recorded_at, entry, keys = read_stored(int(row.seq), row.body)
            yield RecordedEntry(seq=row.seq, recorded_at=recorded_at, entry=entry, mac=row.mac, keys=keys)

    def _lowest_seq(self) -> int | None:
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(sa.func.min(ledger_table.c.seq))).scalar()
        return None if found is None else int(found)

    def seq_anomalies(self, limit: int = 5) -> list[str]:
        """What is wrong with the numbering (rows at seq <= 0, missing seqs), in a few index-only queries.

        ``show`` reports these so no row is invisible; ``verify_ledger`` finds them (and more) by its walk.
        """
        self.create_schema()
        seq = ledger_table.c.seq
        found: list[str] = []
        try:
            with self._engine.connect() as conn:
                stray, lowest = conn.execute(
                    sa.select(sa.func.count(), sa.func.min(seq)).where(seq <= 0)
                ).one()
                if stray:
                    found.append(outside_chain(int(lowest), int(stray)))
                # Gap starts: a seq whose successor is absent, below the last one (index lookups only).
                nxt = ledger_table.alias("nxt")
                starts = (
                    sa.select(seq + 1)
                    .where(seq >= 0, ~sa.exists().where(nxt.c.seq == seq + 1))
                    .where(seq < sa.select(sa.func.max(nxt.c.seq)).scalar_subquery())
                    .order_by(seq)
                    .limit(limit)
                )
                first = conn.execute(sa.select(sa.func.min(seq)).where(seq > 0)).scalar()
                gaps = [1] if first is not None and int(first) > 1 else []
                gaps += [int(s) for s in conn.execute(starts).scalars() if int(s) > 1]
                for start in gaps[:limit]:
                    end = conn.execute(sa.select(sa.func.min(seq)).where(seq > start)).scalar()
                    if end is not None:
                        found.append(missing(start, int(end) - 1))
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot read the ledger at {self.url}") from exc
        return found

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
        keys = self.key_ids.as_body()
        rows: list[dict[str, object]] = []
        recorded: list[RecordedEntry] = []
        for entry in batch:
            seq += 1
            try:
                body = canonical_json(signed_body(entry, recorded_at, keys))
            except (TypeError, ValueError) as exc:
                raise LedgerError(f"ledger entry for run {entry.run_id} cannot be serialised") from exc
            prev = self.entry_mac(prev, seq, body)
            row: dict[str, object] = {name: getattr(entry, name) for name in TEXT_COLUMNS}
            row.update(seq=seq, recorded_at=recorded_at, body=body.decode("utf-8"), mac=prev.hex())
            row.update(started_at=entry.started_at, ended_at=entry.ended_at)
            rows.append(row)
            recorded.append(RecordedEntry(seq, recorded_at, entry, prev.hex(), keys))
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


def outside_chain(lowest: int, count: int) -> str:
    """The problem of rows stored at seq <= 0, which no walk from seq 1 would see."""
    more = "" if count == 1 else f" and {count - 1} more at seq <= 0"
    return f"an entry is stored at seq {lowest}, outside the chain{more}: inserted outside Lethe"


def missing(first: int, last: int) -> str:
    """The problem of a hole in the numbering."""
    return f"entry {first} is missing" if first == last else f"entries {first}..{last} are missing"
