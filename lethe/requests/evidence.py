"""Evidence of data-subject requests that change a store, kept the way retention keeps its batches'.

Before anything changes, ``prepare_evidence`` checks that the ledger can take an entry
(``Ledger.check_writable``: the key matches the head, the write lock is obtained within the ledger's lock
timeout, the schema exists) and copies into the ledger what an earlier, interrupted run left in the journals
of the stores the request touches (``journal.transfer_pending``). The change then commits in one store
transaction together with a journal row holding its whole ledger entry (``journal_change``); after the
commit, ``copy_evidence`` copies the row into the ledger through ``transfer_pending``, the one copying path.
A process killed between the commit and the copy leaves the row, and the next run on that store copies it.

A queue of requests (``lethe erase --subjects-file``) copies in groups instead (``GroupCopy``): it prepares
the evidence once for the whole queue, and after each request's commit copies what is pending only when the
last copy is ``GROUP_SECONDS`` old, and once more at the end. Each request's row still commits with its
change, so a crash between a commit and the next group copy loses nothing: the next run copies the rows.

A retry of such a run finds its subject changed: an erased subject (or a rectified lookup value) is no longer
found. ``remembering`` wraps the resolver: when nobody is found but a journalled change of the same kind
names the identifier (by its keyed fingerprint), the retry is answered ``completed-earlier``
(``answer_completed_earlier``) instead of "not found", and the request the interrupted run left open is
closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import key_id
from lethe.errors import LedgerError, LetheError, StoreError, SubjectNotFoundError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.journal import ensure_journal, find_entry, leaf_columns, record_entry, transfer_pending
from lethe.ledger.leaves import leaves_of, leaves_of_scalars
from lethe.requests.register import RequestError, close_request, state_engine, type_name
from lethe.requests.tracking import RegisterBatch, identifier_fingerprint
from lethe.settings import Settings
from lethe.stores.engines import Stores

COMPLETED_EARLIER = "completed-earlier"
GROUP_SECONDS = 2.0  # in a queue, how old the last group copy may get before the next commit copies again

# Test-only hook points, None in production: called with the flow's name just before the transaction of a
# request's change commits (its journal row inserted) and just after the commit (before the ledger copy).
# tests/support/request_worker.py sets them in a child process to kill it there and prove crash safety.
_before_commit: Callable[[str], None] | None = None
_after_commit: Callable[[str], None] | None = None


def prepare_evidence(
    ledger: Ledger, stores: Stores, names: Sequence[str], *, journal: bool = True
) -> dict[str, sa.Table]:
    """Refuse now when the ledger cannot take entries; copy what earlier runs left; return each journal.

    Without ``journal`` (a dry run) no journal table is created.
    """
    ledger.check_writable()
    tables = {name: ensure_journal(stores.engine(name)) for name in names} if journal else {}
    recover_evidence(ledger, stores, names)
    return tables


def recover_evidence(ledger: Ledger, stores: Stores, names: Iterable[str]) -> None:
    """Copy journal rows of the stores not yet in the ledger (``transfer_pending``) into it."""
    for name in names:
        try:
            transfer_pending(stores.engine(name), name, ledger)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {name}: cannot read its journal ({type_name(exc)})") from None


@dataclass(frozen=True)
class ChangeLeaves:
    """The keyed leaves (``lethe.ledger.leaves``) of the primary keys a request changed in one store."""

    leaves: list[bytes]  # sorted, of every table (each table's leaves are keyed by its own key)
    tables: dict[str, int]  # table name -> its leaves
    key_id: str  # of the master key the leaves are keyed with

    def details(self) -> dict[str, str | int]:
        """What the ledger entry says of them (as a retention batch's entry): root, count, key id, tables."""
        return {
            "root": merkle.root(self.leaves).hex(),
            "leaf_count": len(self.leaves),
            "key_id": self.key_id,
            "tables": ",".join(sorted(self.tables)),
        }


def change_leaves(settings: Settings, store: str, keys: Mapping[str, Sequence[Any]]) -> ChangeLeaves:
    """The leaves of the keys changed per table of ``store`` (a key: a bare value, or a tuple of columns)."""
    master = settings.require_master_key()
    leaves: set[bytes] = set()
    tables: dict[str, int] = {}
    for table, values in keys.items():
        if not values:
            continue
        made = (
            leaves_of(master, store, table, values)
            if isinstance(values[0], tuple)
            else leaves_of_scalars(master, store, table, values)
        )
        tables[table] = len(set(made))
        leaves.update(made)
    return ChangeLeaves(sorted(leaves), tables, key_id(master))


def journal_change(
    connection: sa.Connection,
    table: sa.Table,
    entry: LedgerEntry,
    *,
    part: int = 1,
    match: Sequence[str] = (),
    leaves: ChangeLeaves | None = None,
) -> None:
    """Journal a request's change in the transaction that makes it, as the last statement before its commit.

    With ``leaves`` the row holds them (root, count, blob) and the entry names their root, count, key id and
    tables, so ``lethe ledger prove`` can prove each key the request changed.
    """
    evidence = None
    if leaves is not None:
        entry = replace(entry, details={**entry.details, **leaves.details()})
        evidence = leaf_columns(leaves.tables, leaves.leaves, leaves.key_id)
    record_entry(connection, table, entry, part=part, match=match, evidence=evidence)
    if _before_commit is not None:
        _before_commit(entry.flow)


def copy_evidence(ledger: Ledger, stores: Stores, names: Sequence[str], flow: str) -> None:
    """After the commit: copy the change's journal rows into the ledger (the next run does if this one dies)."""
    if _after_commit is not None:
        _after_commit(flow)
    _copy_committed(ledger, stores, names, flow)


def _copy_committed(ledger: Ledger, stores: Stores, names: Sequence[str], flow: str) -> None:
    """``recover_evidence`` after commits, its ledger errors saying that the changes themselves are safe."""
    try:
        recover_evidence(ledger, stores, names)
    except LedgerError as exc:
        # Same class (exit 3, or 4 for a tampered ledger), saying that the change itself is safe.
        raise type(exc)(
            f"{exc}; the {flow} is committed and journalled in store {', '.join(names)}: "
            "the next run on that store copies it into the ledger"
        ) from exc


class GroupCopy:
    """The evidence of a queue of requests of one kind: prepared once, copied into the ledger in groups.

    Made before the first request changes anything (``prepare_evidence``: the ledger takes entries, what
    earlier runs left is copied; ``journal=False`` for a dry run). Each request calls ``committed`` after
    its commit; between requests the queue calls ``flush_if_due``, which copies the pending rows when the
    last copy is ``every`` seconds old, and ``flush`` at its end (and when it stops early), which copies
    what is left. With ``register`` (the
    queue's ``RegisterBatch``) each copy is followed by closing the requests handled since.
    """

    def __init__(
        self,
        ledger: Ledger,
        stores: Stores,
        names: Sequence[str],
        flow: str,
        *,
        journal: bool = True,
        every: float = GROUP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        register: RegisterBatch | None = None,
    ) -> None:
        self.ledger, self.stores, self.names, self.flow = ledger, stores, list(names), flow
        self.every, self._clock, self.register = every, clock, register
        self.journals = prepare_evidence(ledger, stores, self.names, journal=journal)
        self.pending = 0  # requests committed since the last copy
        self.copies = 0  # group copies made that found something to copy
        self._last = clock()

    def committed(self) -> None:
        """A request's change and its journal rows are committed (copied with the next group)."""
        if _after_commit is not None:
            _after_commit(self.flow)
        self.pending += 1

    def flush_if_due(self) -> None:
        """Between requests: copy when the last copy is ``every`` seconds old.

        Called by the queue, not inside a request, so that a copy that fails stops the queue with its own
        error instead of passing for a failure of the request that happened to come before it.
        """
        if self._clock() - self._last >= self.every:
            self.flush()

    def flush(self) -> None:
        """Copy every pending journal row of the stores into the ledger now, then close the requests the
        ``register`` batch holds (their evidence is in the ledger first)."""
        self._last = self._clock()
        if self.pending:
            self.pending = 0
            self.copies += 1
            _copy_committed(self.ledger, self.stores, self.names, self.flow)
        if self.register is not None:
            self.register.flush()


def identifier_prints(settings: Settings, subject: str, identifiers: Iterable[object]) -> list[str]:
    """Keyed fingerprints of the identifiers that name a subject (never the values), for ``find_entry``."""
    texts = (str(v).strip() for v in identifiers if v is not None)
    return list(dict.fromkeys(identifier_fingerprint(settings, subject, t) for t in texts if t))


class CompletedEarlier(LetheError):
    """Raised by a ``remembering`` resolver: nobody is found, but a journalled change named the identifier."""

    def __init__(self, journal: str, entry: LedgerEntry) -> None:
        super().__init__(f"this {entry.flow} was completed earlier, by run {entry.run_id}")
        self.journal = journal
        self.entry = entry


def remembering(
    resolve: Callable[[str], Any],
    stores: Stores,
    store: str,
    settings: Settings,
    subject: str,
    *,
    flow: str,
    action: str,
    in_clear: Callable[[str], Any] | None = None,
    key_print: Callable[[Any], str] | None = None,
) -> Callable[[str], Any]:
    """``resolve``, raising CompletedEarlier when it finds nobody but ``store``'s journal holds a ``flow``
    change that the identifier named.

    With ``in_clear`` (the resolver without tokens) and ``key_print`` (the key's fingerprint), a subject that
    ``resolve`` finds only through a token of the identifier (its row is pseudonymised) is also answered
    CompletedEarlier when a journalled change named the identifier and that very key: the change is done, and
    running it again would only record a second erasure of the same person.
    """

    def remembered(identifier: str, key: Any = None) -> tuple[str, LedgerEntry] | None:
        """The journalled change that named the identifier (and ``key``, when given), if any."""
        match = identifier_prints(settings, subject, [identifier])
        found = find_entry(stores.engine(store), store, flow=flow, action=action, match=match)
        if found is None or key is None or key_print is None:
            return found
        return found if key_print(key) in found[1].fingerprints else None

    def resolve_or_remember(identifier: str) -> Any:
        try:
            key = resolve(identifier)
        except SubjectNotFoundError:
            found = remembered(identifier)
            if found is None:
                raise
            raise CompletedEarlier(*found) from None
        if in_clear is not None:
            try:
                in_clear(identifier)
            except SubjectNotFoundError:  # found only by a token: pseudonymised, perhaps by this very change
                if (found := remembered(identifier, key)) is not None:
                    raise CompletedEarlier(*found) from None
        return key

    return resolve_or_remember


def answer_completed_earlier(
    settings: Settings,
    ledger: Ledger,
    earlier: CompletedEarlier,
    *,
    run_id: str,
    policy_hash: str,
    action: str,
    started: datetime,
    close: bool = True,
) -> str | None:
    """Record the answer to a retry of a change made earlier; with ``close`` close the request it left open.

    Returns the earlier request's id (None when its entry names none).
    """
    done = earlier.entry
    request = done.details.get("request")
    request_id = request if isinstance(request, str) else None
    ledger.append(
        LedgerEntry(
            run_id=run_id, flow=done.flow, policy_hash=policy_hash, action=action, outcome=COMPLETED_EARLIER,
            started_at=started, ended_at=datetime.now(UTC), fingerprints=done.fingerprints,
            details={
                "subject": done.details.get("subject"), "request": request_id, "journal": earlier.journal,
                "earlier_run": done.run_id,
            },
        )
    )  # fmt: skip
    if close and request_id is not None:
        with suppress(RequestError):  # already closed (an earlier retry answered it) or not in this register
            close_request(
                state_engine(settings), request_id, "completed",
                f"{done.flow} completed by run {done.run_id}, interrupted before its ledger copy; recovered",
            )  # fmt: skip
    return request_id
