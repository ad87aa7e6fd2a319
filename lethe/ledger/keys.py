"""The registry of keys in use, kept in the ledger's database: a changed key is refused before it does harm.

Acceptance testing ran a rule under one ``LETHE_MASTER_KEY``, then under another: 5,500 tokens were made
under key A and 271 under key B, all with the prefix ``~h1:``, and nothing noticed. The table ``lethe_keys``
now holds, per kind of key and version, the key's public id (``lethe.crypto.key_id``), when it was first
seen and how it came in ("first use", or "rotation from version N"). It is written on first use.

* ``master``: one row per ``LETHE_KEY_VERSION``. A run whose master key is not the one registered for its
  version, or whose version is older than the latest registered one, is refused with ``KeyChangedError``
  before anything is changed. A rotation is declared by raising ``LETHE_KEY_VERSION``: the new key is
  registered under the new version, and tokens carry it in their prefix (``~h1:`` -> ``~h2:``), so tokens
  under different keys never share a prefix.
* ``ledger``: one row (version 1) for ``LETHE_LEDGER_KEY``, so a wrong ledger key is named as such
  (LedgerTamperedError, exit 4, as a head MAC that fails under it).

Each row carries a MAC under the ledger key: whoever edits the registry without it (to make a changed key
look registered) is caught. Every ledger entry also records the ids of the keys in use (``KeyIds``), which
``verify`` checks against this registry.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import sqlalchemy as sa

from lethe.crypto import derive_key
from lethe.errors import KeyChangedError, LedgerTamperedError
from lethe.ledger.tables import keys_table

MASTER, LEDGER = "master", "ledger"
FIRST_USE = "first use"


@dataclass(frozen=True)
class KeyIds:
    """The ids of the keys a process uses: the ledger key's, and the master key's with its version."""

    ledger: str
    master: str | None = None
    master_version: int = 1

    def as_body(self) -> dict[str, str | int]:
        """What a ledger entry records (``keys`` in its signed body)."""
        body: dict[str, str | int] = {"ledger": self.ledger}
        if self.master is not None:
            body.update(master=self.master, master_version=self.master_version)
        return body


@dataclass(frozen=True)
class RegisteredKey:
    """One row of the registry."""

    kind: str
    version: int
    key_id: str
    first_seen: datetime
    declared: str


class KeyRegistry:
    """Read, check and extend ``lethe_keys`` on a connection to the ledger's database."""

    def __init__(self, ledger_key: bytes) -> None:
        """Rows are signed under a key derived from the ledger key (a purpose of its own)."""
        self._mac_key = derive_key(ledger_key, "lethe/ledger/keys/v1")

    def _mac(self, kind: str, version: int, key_id: str, first_seen: datetime, declared: str) -> str:
        message = "\x1f".join((kind, str(version), key_id, first_seen.astimezone(UTC).isoformat(), declared))
        return hmac.new(self._mac_key, message.encode("utf-8"), sha256).hexdigest()

    @staticmethod
    def rows(conn: sa.Connection) -> list[sa.Row[Any]]:
        """The registry's rows as stored, MACs not checked."""
        query = sa.select(keys_table).order_by(keys_table.c.kind, keys_table.c.version)
        return list(conn.execute(query).all())

    def read(self, conn: sa.Connection) -> list[RegisteredKey]:
        """The registry, each row's MAC checked: an edited or forged row is tampering."""
        found = []
        for row in self.rows(conn):
            key = RegisteredKey(row.kind, int(row.version), str(row.key_id), row.first_seen, row.declared)
            expected = self._mac(key.kind, key.version, key.key_id, key.first_seen, key.declared)
            if not hmac.compare_digest(expected, str(row.mac)):
                raise LedgerTamperedError(
                    f"the key registry (lethe_keys) row {key.kind} version {key.version} was modified "
                    "or forged: its MAC does not match the ledger key"
                )
            found.append(key)
        return found

    def check_ledger_key(self, conn: sa.Connection, ids: KeyIds) -> None:
        """Refuse a ledger key other than the registered one, from the raw rows.

        Checked before any MAC: under a wrong ledger key every MAC fails, and the clear message is "wrong
        key", not "forged registry". LedgerTamperedError (exit 4), as for a head MAC that fails.
        """
        registered = registered_ledger_key(conn)
        if registered is not None and registered != ids.ledger:
            raise LedgerTamperedError(f"{wrong_ledger_key(ids.ledger, registered)}: nothing was changed")

    def check(self, conn: sa.Connection, ids: KeyIds) -> None:
        """Refuse keys that differ from the registered ones; register those seen for the first time.

        Runs on the caller's ``conn`` (its transaction commits the new rows). A concurrent first use raises
        IntegrityError on insert: the caller retries, and the retry compares with what the other one wrote.
        """
        self.check_ledger_key(conn, ids)
        known = self.read(conn)
        if not any(key.kind == LEDGER for key in known):
            self._register(conn, LEDGER, 1, ids.ledger, FIRST_USE)
        if ids.master is not None:
            self._check_master(conn, known, ids.master, ids.master_version)

    def _check_master(
        self, conn: sa.Connection, known: list[RegisteredKey], key_id: str, version: int
    ) -> None:
        masters = {key.version: key for key in known if key.kind == MASTER}
        latest = max(masters, default=None)
        mine = masters.get(version)
        if mine is not None and mine.key_id != key_id:
            raise KeyChangedError(
                f"LETHE_MASTER_KEY (id {key_id}) is not the key registered for key version {version} (id "
                f"{mine.key_id}, {mine.declared} {mine.first_seen:%Y-%m-%dT%H:%M:%SZ}): tokens under both keys "
                f"would share the prefix ~h{version}:. Nothing was changed. If the key was rotated on purpose, "
                f"declare the rotation: set LETHE_KEY_VERSION={(latest or version) + 1} with the new key "
                f"(tokens then carry ~h{(latest or version) + 1}:); otherwise restore the registered key"
            )
        if latest is not None and version < latest:
            raise KeyChangedError(
                f"LETHE_KEY_VERSION={version} is older than the latest registered master key version "
                f"{latest} ({masters[latest].declared}): set LETHE_KEY_VERSION={latest} with its key; "
                "nothing was changed"
            )
        if mine is None:
            declared = FIRST_USE if latest is None else f"rotation from version {latest}"
            self._register(conn, MASTER, version, key_id, declared)

    def _register(self, conn: sa.Connection, kind: str, version: int, key_id: str, declared: str) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        mac = self._mac(kind, version, key_id, now, declared)
        values = {"kind": kind, "version": version, "key_id": key_id, "first_seen": now, "declared": declared}
        conn.execute(sa.insert(keys_table).values(**values, mac=mac))


def registered_ledger_key(conn: sa.Connection) -> str | None:
    """The registered ledger key id, MAC not checked (to name a wrong key as such); None if not yet."""
    query = sa.select(keys_table.c.key_id).where(keys_table.c.kind == LEDGER, keys_table.c.version == 1)
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def wrong_ledger_key(ours: str, registered: str) -> str:
    """The message for a ledger key other than the registered one (ids only)."""
    return f"wrong LETHE_LEDGER_KEY (id {ours}; this ledger was written with the key of id {registered})"
