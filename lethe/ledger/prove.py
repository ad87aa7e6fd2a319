"""``lethe ledger prove``: find one key's leaf in a store's journal and build its inclusion proof.

The key is given as on the command line (text; a composite key as a JSON list) and typed by the table's
primary-key columns, so that it encodes as the value the database handed back when the batch ran
(``lethe.ledger.leaves``: the integer 5 and the text "5" are different leaves). Its leaf is recomputed under
the master key, then searched in the leaf blobs of the store's journal rows (journal v2: sorted fixed-size
leaves, so a binary search per row, reading one page of rows at a time), optionally only those of the rules
that change the table. The batch found must still give the root its ledger entry records; the proof
(``lethe.ledger.proof``) is anchored in the ledger's tree at its current size, or at a checkpoint's.

Nothing personal is echoed: errors name the table and the leaf (a keyed hash), never the key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import KeyNotProvedError, LedgerError, LedgerTamperedError, ParameterError, StoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.checkpoint import Checkpoint
from lethe.ledger.history import read_tree
from lethe.ledger.journal import JOURNAL_TABLE, journal_ref, journal_table
from lethe.ledger.leaves import LEAF_SIZE, leaf_maker, unpack
from lethe.ledger.proof import Proof, assemble_proof, batch_facts
from lethe.policy.urls import safe_url
from lethe.stores.schema import TableInfo

_PAGE = 20  # journal rows per query: each holds up to a batch's blob of leaves
_JOURNAL = journal_table()


@dataclass(frozen=True)
class Found:
    """A journal row whose blob holds the leaf: its reference, rule, ledger seq and the leaf's index."""

    journal_id: int
    journal: str
    rule: str
    key_id: str | None
    ledger_seq: int | None
    index: int
    leaves: list[bytes]


def parse_key(text: str, table: TableInfo) -> tuple[object, ...]:
    """The key ``text`` names, typed by ``table``'s primary-key columns (a composite key is a JSON list)."""
    columns = [table.columns[name] for name in table.primary_key]
    if not columns:
        raise ParameterError(f"table {table.name} has no primary key: its rows have no leaves to prove")
    if len(columns) == 1:
        parts: list[object] = [text]
    else:
        try:
            parts = json.loads(text)
        except ValueError:
            parts = []
        if not isinstance(parts, list) or len(parts) != len(columns):
            raise ParameterError(
                f"the primary key of {table.name} has {len(columns)} columns "
                f"({', '.join(table.primary_key)}): give --key as a JSON list of {len(columns)} values"
            )
    return tuple(_typed(part, column.kind, column.name) for part, column in zip(parts, columns, strict=True))


def _typed(value: object, kind: str, column: str) -> object:
    """One key part as the database returns that column's values; the value is never echoed."""
    if value is None or (kind == "integer" and type(value) is int):
        return value
    text = str(value)
    try:
        if kind == "integer":
            return int(text)
        if kind == "numeric":
            return Decimal(text)
        if kind == "binary":
            return bytes.fromhex(text)
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "datetime":
            return dt.datetime.fromisoformat(text)
    except (ValueError, InvalidOperation):
        raise ParameterError(f"the key's value for column {column} is not of its type ({kind})") from None
    return text


def leaf_index(blob: bytes, leaf: bytes) -> int | None:
    """The index of ``leaf`` in a blob of sorted fixed-size leaves (binary search), or None."""
    count = len(blob) // LEAF_SIZE
    low, high = 0, count
    while low < high:
        mid = (low + high) // 2
        if blob[mid * LEAF_SIZE : (mid + 1) * LEAF_SIZE] < leaf:
            low = mid + 1
        else:
            high = mid
    if low < count and blob[low * LEAF_SIZE : (low + 1) * LEAF_SIZE] == leaf:
        return low
    return None


def find_leaf(engine: Engine, store: str, leaf: bytes, rules: Collection[str] | None = None) -> list[Found]:
    """Every journal row of ``store`` (of ``rules``, when given) whose leaves hold ``leaf``, oldest first."""
    found: list[Found] = []
    for row in _batch_rows(engine, rules):
        blob = bytes(row.leaves)
        index = leaf_index(blob, leaf)
        if index is not None:
            found.append(
                Found(
                    journal_id=int(row.id),
                    journal=journal_ref(store, row),
                    rule=str(row.rule),
                    key_id=row.key_id,
                    ledger_seq=None if row.ledger_seq is None else int(row.ledger_seq),
                    index=index,
                    leaves=unpack(blob),
                )
            )
    return found


def _batch_rows(engine: Engine, rules: Collection[str] | None) -> Iterator[sa.Row[Any]]:
    """The journal's v2 batch rows with their blobs, one short keyset-paged query at a time."""
    table = _JOURNAL
    where = [table.c.leaves.is_not(None)]
    if rules is not None:
        where.append(table.c.rule.in_(sorted(rules)))
    columns = [table.c[name] for name in ("id", "uid", "rule", "key_id", "ledger_seq", "leaves")]
    after = 0
    try:
        if not sa.inspect(engine).has_table(JOURNAL_TABLE):
            return
        names = {c["name"] for c in sa.inspect(engine).get_columns(JOURNAL_TABLE)}
        if "leaves" not in names:
            return  # a journal of version 1: no leaves to search
        while True:
            query = sa.select(*columns).where(table.c.id > after, *where).order_by(table.c.id).limit(_PAGE)
            with engine.connect() as connection:
                page = connection.execute(query).all()
            yield from page
            if len(page) < _PAGE:
                return
            after = int(page[-1].id)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read {JOURNAL_TABLE} in {safe_url(engine.url)} ({exc.__class__.__name__})"
        ) from None


def prove_key(
    ledger: Ledger,
    engine: Engine,
    *,
    store: str,
    table: str,
    key: tuple[object, ...],
    master_key: bytes,
    rules: Collection[str] | None = None,
    seq: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[Proof, list[int]]:
    """The proof that ``key`` of ``store.table`` was in a journalled batch, and the seqs of its other batches.

    The latest batch by default, or the one copied into ledger entry ``seq``. KeyNotProvedError when no batch
    holds the key; LedgerTamperedError when the batch no longer matches its ledger entry.
    """
    # Leaves are keyed per table as the policy names it (``schema.table`` where it has a schema).
    leaf = leaf_maker(master_key, store, table)(key)
    shown = f"{store}.{table} (leaf {leaf.hex()})"
    found = find_leaf(engine, store, leaf, rules)
    if seq is not None and found and not any(f.ledger_seq == seq for f in found):
        raise KeyNotProvedError(f"ledger entry {seq} does not hold {shown}; other batches do")
    if seq is not None:
        found = [f for f in found if f.ledger_seq == seq]
    if not found:
        raise KeyNotProvedError(
            f"no journalled batch of {shown} holds this key: no retention rule deleted or anonymised it "
            "(or its journal rows were pruned, or the master key differs)"
        )
    chosen = found[-1]
    if chosen.ledger_seq is None:
        raise LedgerError(
            f"the batch of {shown} is journalled ({chosen.journal}) but not yet copied into the ledger: the "
            "next run of a rule on this store copies it"
        )
    row = next(iter(ledger.rows(chosen.ledger_seq - 1, chosen.ledger_seq)), None)
    if row is None or int(row.seq) != chosen.ledger_seq:
        raise LedgerTamperedError(
            f"ledger entry {chosen.ledger_seq} of journal row {chosen.journal} is missing"
        )
    facts = batch_facts(json.loads(row.body))
    if facts is None or facts.journal != chosen.journal:
        raise LedgerTamperedError(
            f"ledger entry {chosen.ledger_seq} does not copy journal row {chosen.journal}: the journal's mark "
            "or the entry was changed"
        )
    size = (ledger.head() or (0, ""))[0] if checkpoint is None else checkpoint.size
    if size < chosen.ledger_seq:
        raise ParameterError(
            f"the checkpoint holds {size} entries, not yet entry {chosen.ledger_seq}: make a newer checkpoint"
        )
    tree = read_tree(ledger, size)
    if checkpoint is not None and tree.root().hex() != checkpoint.tree_root:
        raise LedgerTamperedError(
            f"the ledger's first {size} entries no longer give the checkpoint's tree root: the ledger was changed"
        )
    proof = assemble_proof(
        store=store,
        table=table,
        key_id=facts.key_id,
        leaves=chosen.leaves,
        index=chosen.index,
        seq=chosen.ledger_seq,
        body=row.body if isinstance(row.body, str) else bytes(row.body).decode("utf-8"),
        mac=str(row.mac),
        tree=tree,
    )
    others = [f.ledger_seq for f in found[:-1] if f.ledger_seq is not None]
    return proof, others
