"""Verification of the evidence ledger: walk the HMAC chain and say what was changed, first.

Split from ``lethe.ledger.chain`` (which documents what is and is not detected) because the walk and its
diagnosis (gap, modification, reordering, truncation, rolled-back head) are a concern of their own.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import LedgerError, LedgerTamperedError
from lethe.ledger.chain import ZERO_MAC, Ledger, ledger_table, outside_chain
from lethe.ledger.entry import TEXT_COLUMNS, LedgerEntry, canonical_problem, read_stored
from lethe.ledger.keys import LEDGER, MASTER, RegisteredKey, registered_ledger_key, wrong_ledger_key


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of a verification; ``problem`` names the first thing found wrong."""

    ok: bool
    count: int
    head_seq: int | None
    head_mac: str | None
    first_bad_seq: int | None
    problem: str | None


def verify_ledger(
    ledger: Ledger, expected_head: tuple[int, str] | None = None, min_count: int | None = None
) -> VerifyReport:
    """Walk the whole chain (streaming) and report the first modified, missing or misplaced entry."""
    ledger.create_schema()
    registry_problem: str | None = None
    registry: list[RegisteredKey] | None
    try:
        registry = ledger.registered_keys()
    except LedgerTamperedError as exc:
        registry, registry_problem = None, str(exc)  # reported after the walk, which skips key ids
    chain = _Chain(ledger, expected_head, registry)
    try:
        head = ledger.read_head()
        chain.walk_outside()
        chain.walk(0, None)
        head_seq = int(head.seq) if head is not None else 0
        if chain.problem is None and chain.last != head_seq:
            # Appends may have committed while we walked: re-read the head, then walk up to it.
            head = ledger.read_head()
            head_seq = int(head.seq) if head is not None else 0
            if chain.last < head_seq:
                chain.walk(chain.last, head_seq)
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot read the ledger at {ledger.url}") from exc
    head_ok = head is None or ledger.head_ok(head)
    last, head_seq = chain.last, 0 if head is None else int(head.seq)
    anchor_seq = 0 if expected_head is None else expected_head[0]
    # (found, first bad seq, problem), in the order they are reported.
    checks: list[tuple[bool, int | None, str]] = [
        (not head_ok, None, "head MAC invalid: the head row was forged or altered"),
        (head is None and last > 0, None, f"head row missing while {last} entries exist"),
        (head_seq > last, last + 1, f"head records {head_seq} entries but the ledger ends at {last}: "
         "tail truncated"),
        (head_seq < last, head_seq + 1, f"entries after {head_seq} are not covered by the head: "
         "the head row was rolled back"),
        (head is not None and str(head.mac) != chain.prev.hex(), head_seq,
         f"head does not match entry {head_seq}: the head row was replaced"),
        (anchor_seq > last, last + 1, f"the anchor expects entry {anchor_seq} but the ledger ends at "
         f"{last}: entries were removed or the ledger was rolled back"),
        ((min_count or 0) > last, last + 1, f"the ledger has {last} entries, fewer than the "
         f"{min_count} expected"),
        (registry_problem is not None, None, registry_problem or ""),
    ]  # fmt: skip
    if chain.problem is None:
        chain.first_bad, chain.problem = next(((seq, why) for hit, seq, why in checks if hit), (None, None))
    elif chain.first_bad == 1 and chain.mac_failed and not head_ok:
        chain.problem = "MACs do not match the key: wrong LETHE_LEDGER_KEY, or the whole ledger was rewritten"
        with ledger.connect() as conn:
            registered = registered_ledger_key(conn)
        if registered is not None and registered != ledger.key_ids.ledger:
            chain.problem = (
                f"MACs do not match the key: {wrong_ledger_key(ledger.key_ids.ledger, registered)}"
            )
    return VerifyReport(
        ok=chain.problem is None,
        count=last,
        head_seq=None if head is None else head_seq,
        head_mac=None if head is None else str(head.mac),
        first_bad_seq=chain.first_bad,
        problem=chain.problem,
    )


def verify_or_raise(
    ledger: Ledger, expected_head: tuple[int, str] | None = None, min_count: int | None = None
) -> VerifyReport:
    """``verify_ledger``, raising LedgerTamperedError with the problem when anything is wrong."""
    report = verify_ledger(ledger, expected_head, min_count)
    if not report.ok:
        raise LedgerTamperedError(report.problem or "ledger verification failed")
    return report


class _Chain:
    """Running state of a verification walk: last good seq and MAC, and the first problem found."""

    def __init__(
        self, ledger: Ledger, anchor: tuple[int, str] | None, registry: list[RegisteredKey] | None
    ) -> None:
        """Start before entry 1; ``registry`` None when it cannot be trusted (key ids then not compared)."""
        self.ledger, self.anchor = ledger, anchor
        self.check_keys = registry is not None
        registry = registry or []
        self.masters = {key.version: key.key_id for key in registry if key.kind == MASTER}
        self.ledger_ids = {key.key_id for key in registry if key.kind == LEDGER}
        self.last, self.prev = 0, ZERO_MAC
        self.first_bad: int | None = None
        self.problem: str | None = None
        self.mac_failed = False

    def walk_outside(self) -> None:
        """Rows at seq <= 0 are outside the chain, which starts at 1: report the lowest of them."""
        seq = ledger_table.c.seq
        with self.ledger.connect() as conn:
            count, lowest = conn.execute(sa.select(sa.func.count(), sa.func.min(seq)).where(seq <= 0)).one()
        if count:
            self.first_bad, self.problem = int(lowest), outside_chain(int(lowest), int(count))

    def walk(self, after: int, upto: int | None) -> None:
        """Check rows after ``after`` (up to ``upto``), stopping at the first problem."""
        if self.problem is not None:
            return
        for row in self.ledger.rows(after, upto):
            seq, expected = int(row.seq), self.last + 1
            mac = self._mac_of(expected, row)
            problem: str | None
            if seq < expected:
                problem = f"entry {seq} is stored twice"
            elif seq != expected:
                what = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}..{seq - 1} are"
                problem = f"{what} missing (gap between {self.last} and {seq})"
            elif not hmac.compare_digest(mac.hex(), str(row.mac)):
                self.mac_failed = True
                respelled = canonical_problem(row.body)
                moved = None if respelled else self._find_moved(seq)
                problem = (
                    f"entries out of order: the entry signed as {seq} is stored at seq {moved}"
                    if moved is not None
                    else f"entry {seq} was modified" + (f": {respelled}" if respelled else "")
                )
            else:
                problem = self._body_problem(seq, row)
                anchor = self.anchor
                if problem is None and anchor is not None and anchor[0] == seq and anchor[1] != mac.hex():
                    problem = (
                        f"entry {seq} does not match the anchor: the ledger was rewritten or rolled back"
                    )
            if problem is None:
                self.last, self.prev = seq, mac
                continue
            self.first_bad, self.problem = expected, problem
            return

    def _mac_of(self, seq: int, row: sa.Row[Any]) -> bytes:
        """The MAC of the row's body at ``seq`` after ``self.prev``: over the exact bytes stored."""
        return self.ledger.entry_mac(self.prev, seq, str(row.body).encode("utf-8"))

    def _find_moved(self, seq: int) -> int | None:
        """The later seq holding the entry that was signed as ``seq``, if rows were swapped."""
        for row in self.ledger.rows(seq, None):
            if hmac.compare_digest(self._mac_of(seq, row).hex(), str(row.mac)):
                return int(row.seq)
        return None

    def _body_problem(self, seq: int, row: sa.Row[Any]) -> str | None:
        """What is wrong with a body whose MAC matched: not canonical, a column or a key id disagreeing."""
        try:
            # Signed as stored but not in canonical form: only a key holder could have, so refuse it too.
            stored = read_stored(seq, row.body)
        except LedgerTamperedError as exc:
            return str(exc)
        if (column := self._column_mismatch(row, stored)) is not None:
            return f"entry {seq} was modified (column {column} differs from its signed body)"
        if (wrong := self._key_mismatch(stored[2])) is not None:
            return f"entry {seq} {wrong}"
        return None

    @staticmethod
    def _column_mismatch(
        row: sa.Row[Any], stored: tuple[datetime, LedgerEntry, dict[str, str | int]]
    ) -> str | None:
        """Name of the first indexed column whose value differs from the (MAC-checked) body."""
        recorded_at, entry, _keys = stored
        if row.recorded_at != recorded_at:
            return "recorded_at"
        names = (*TEXT_COLUMNS, "started_at", "ended_at")
        return next((name for name in names if getattr(row, name) != getattr(entry, name)), None)

    def _key_mismatch(self, keys: dict[str, str | int]) -> str | None:
        """Why the key ids a (MAC-checked) body records disagree with the registry, if they do."""
        if not self.check_keys:
            return None
        ledger_id, master_id, version = keys.get("ledger"), keys.get("master"), keys.get("master_version")
        if ledger_id is not None and self.ledger_ids and ledger_id not in self.ledger_ids:
            return f"records ledger key id {ledger_id}, not the registered one"
        if master_id is None:
            return None
        registered = self.masters.get(version) if isinstance(version, int) else None
        if registered is None:
            return (
                f"records master key id {master_id} for version {version}, which the registry does not hold"
            )
        if registered != master_id:
            return (
                f"was written under master key id {master_id} for version {version}, but the registry holds "
                f"{registered} for it: the master key changed without a declared rotation"
            )
        return None
