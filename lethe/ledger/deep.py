"""``lethe ledger verify --deep``: every batch's root recomputed from its journal blob and matched to the ledger.

The HMAC chain proves the ledger entries are as written; it says nothing of the journal rows beside the data,
from which proofs are made. For every ledger entry of a retention batch (journal v2: a ``root`` and a
``leaf_count`` in its details) this reads the journal row it names (``store:id:uid``) and checks that the row is
still that row (uid, mark), that its blob is whole leaves, strictly ascending (a swapped pair of leaves is
caught by name, before the root), as many as recorded, that they give the entry's root, and that the row's
own root and key id columns agree. Entries of stores the caller cannot open are counted as skipped, not
passed. A journal row that was pruned is reported as missing: its root stays in the ledger, its proofs are gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import StoreError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.journal import JOURNAL_TABLE, journal_table
from lethe.ledger.leaves import LEAF_SIZE, unpack
from lethe.policy.urls import safe_url

_CHUNK = 20  # journal rows per query: each holds a batch's blob
_REF = re.compile(r"(?P<store>.+):(?P<id>\d+):(?P<uid>[0-9a-f]{32})")
_JOURNAL = journal_table()


@dataclass(frozen=True)
class DeepFinding:
    """A batch entry whose journal row does not match it."""

    seq: int
    journal: str
    problem: str


@dataclass(frozen=True)
class _Batch:
    """What a batch entry records: its seq, journal reference and row id, root, leaf count and key id."""

    seq: int
    journal: str
    row_id: int
    uid: str
    root: str
    leaf_count: int
    key_id: object


@dataclass
class DeepReport:
    """Outcome of a deep verification: how many batch entries were checked or skipped, and what differs."""

    checked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    findings: list[DeepFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no checked batch differs from its journal row."""
        return not self.findings


def verify_deep(ledger: Ledger, engine_of: Callable[[str], Engine | None]) -> DeepReport:
    """Match every batch entry of the ledger to its journal row; ``engine_of(store)`` opens a store or None."""
    report = DeepReport()
    pending: dict[str, list[_Batch]] = {}
    for batch, store in _batches(ledger, report):
        pending.setdefault(store, []).append(batch)
    for store, batches in pending.items():
        engine = engine_of(store)
        if engine is None:
            report.skipped[store] = len(batches)
            continue
        for start in range(0, len(batches), _CHUNK):
            chunk = batches[start : start + _CHUNK]
            rows = _journal_rows(engine, [b.row_id for b in chunk])
            for batch in chunk:
                report.checked += 1
                report.findings += [
                    DeepFinding(batch.seq, batch.journal, problem)
                    for problem in _problems(batch, rows.get(batch.row_id))
                ]
    report.findings.sort(key=lambda f: f.seq)
    return report


def _batches(ledger: Ledger, report: DeepReport) -> Iterator[tuple[_Batch, str]]:
    """The ledger's batch entries with leaves, and their stores; a malformed reference is a finding."""
    for recorded in ledger.entries():
        details = recorded.entry.details
        root, count, ref = details.get("root"), details.get("leaf_count"), details.get("journal")
        if not isinstance(root, str) or type(count) is not int:
            continue
        match = _REF.fullmatch(ref) if isinstance(ref, str) else None
        if match is None:
            report.findings.append(DeepFinding(recorded.seq, str(ref), "names no journal row (store:id:uid)"))
            continue
        batch = _Batch(
            seq=recorded.seq, journal=str(ref), row_id=int(match["id"]), uid=match["uid"], root=root,
            leaf_count=count, key_id=details.get("key_id"),
        )  # fmt: skip
        yield batch, match["store"]


def _journal_rows(engine: Engine, ids: list[int]) -> dict[int, sa.Row[Any]]:
    """The journal rows with ``ids``, by id."""
    table = _JOURNAL
    columns = [table.c[n] for n in ("id", "uid", "ledger_seq", "key_id", "leaf_count", "root", "leaves")]
    try:
        if not sa.inspect(engine).has_table(JOURNAL_TABLE):
            return {}
        with engine.connect() as connection:
            rows = connection.execute(sa.select(*columns).where(table.c.id.in_(ids))).all()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read {JOURNAL_TABLE} in {safe_url(engine.url)} ({exc.__class__.__name__})"
        ) from None
    return {int(row.id): row for row in rows}


def _problems(batch: _Batch, row: sa.Row[Any] | None) -> list[str]:
    """What differs between a batch entry and its journal row (empty when they match)."""
    if row is None:
        return ["its journal row is missing (deleted, or pruned with its leaves)"]
    if row.uid != batch.uid:
        return [f"journal row {batch.row_id} is another row now (its uid differs)"]
    problems: list[str] = []
    if row.ledger_seq is not None and int(row.ledger_seq) != batch.seq:
        problems.append(f"the journal row is marked as copied to entry {int(row.ledger_seq)}")
    if row.leaves is None:
        return [*problems, "the journal row has no leaves"]
    blob = bytes(row.leaves)
    if len(blob) % LEAF_SIZE:
        return [*problems, f"the blob of {len(blob)} bytes is not whole {LEAF_SIZE}-byte leaves"]
    leaves = unpack(blob)
    if len(leaves) != batch.leaf_count or row.leaf_count != batch.leaf_count:
        problems.append(
            f"the entry records {batch.leaf_count} leaves, the journal row {row.leaf_count} and its blob {len(leaves)}"
        )
    disorder = next((i for i in range(1, len(leaves)) if leaves[i - 1] >= leaves[i]), None)
    if disorder is not None:
        problems.append(f"the blob's leaves are not strictly ascending at index {disorder}")
    if merkle.root(leaves).hex() != batch.root:
        problems.append("the blob's leaves do not give the root the entry records")
    if row.root is None or bytes(row.root).hex() != batch.root:
        problems.append("the journal row's root column differs from the entry's root")
    if row.key_id != batch.key_id:
        problems.append("the journal row's key id differs from the entry's")
    return problems
