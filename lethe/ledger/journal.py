"""The journal: a record of each applied batch or request, written in the change's own transaction.

Crash safety rests on it. A batch's change and its journal row commit together in the store, so after any
crash a batch is either applied and journalled, or neither. The evidence ledger may live in another
database, so journal rows are copied to it after the commit; a row not yet copied (the process died in
between) is copied by the next run (``transfer_pending``), and a copy that reached the ledger but was not
marked is recognised by its ``journal`` detail, so nothing is recorded twice. Runs of different rules
share a store's journal, so copying holds a lock on it (waiting for another run's copy to finish).

Data-subject requests that change a store (erasure, rectification, restriction; ``lethe.requests.evidence``)
journal the same way: their row holds the request's whole ledger entry (``record_entry``), plus keyed
fingerprints of the identifiers that named the subject, by which a retry finds it (``find_entry``). A
retention batch's row (journal v2, ``record_batch``) holds the batch's evidence in columns: ``table_counts``
(JSON, the rows changed per table: ``rows`` for the rule's table, one label per child table), ``key_id`` (of
the master key, ``lethe.crypto.key_id``), ``leaf_count``, ``root`` (32 bytes, RFC 9162 Merkle root over the
sorted leaves) and ``leaves`` (the sorted 16-byte leaves concatenated, ``lethe.ledger.leaves``); its ``body``
is small JSON: ``{"v": 2, "span": [after, upto], "counts": ..., "started_at", "ended_at"}`` with the span's
ends as keyed fingerprints (null for an open end), and ``"partition": "p<i>of<N>"`` for a batch of a partitioned
rule (copied to the ledger entry's details). Its ledger entry's details carry ``root`` (hex),
``leaf_count``, ``key_id``, ``span_after``, ``span_upto``, ``batch`` and the ``journal`` reference. Nothing
per key is in JSON. Rows of version 1 (``body`` holding counts and one fingerprint per key, no root) are
still copied as they were. ``transfer_pending`` copies every kind: one ledger entry per row, all pending
rows in one ledger transaction (a group commit), marked in one UPDATE; before the mark, the rows that hold
leaves are also copied, blobs included, into ``lethe_leaves`` in the ledger's database (``copy_leaves``), which
outlives a restore of the store (``lethe.replay``).

The table ``lethe_journal`` is created in the store on the first enforcing run or request that changes it
(Lethe's only tables in a user's database besides the restriction register and ``lethe_`` lock files on
SQLite). It holds counts, keyed fingerprints and keyed leaves, never values.
Each row has a random ``uid``, part of the reference the ledger entry carries: several databases may share one
ledger under the same store name, and their journal ids collide. A journal made by an earlier version is
upgraded in place (``uid`` and the v2 columns added; MariaDB's ``body`` widened to LONGTEXT); its older rows
keep the ``store:id`` reference they were written with. (The counts column is ``table_counts``, not
``tables``: TABLES is a reserved word in MariaDB.)
"""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import canonical_json
from lethe.errors import LedgerError, StoreError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, parse_body, signed_body
from lethe.ledger.leaves import pack
from lethe.ledger.tables import leaves_table
from lethe.policy.urls import safe_url
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import ensure_table

JOURNAL_TABLE = "lethe_journal"
TRANSFER_WAIT_SECONDS = 60.0  # how long a run waits for another run's copy to the ledger to finish


def journal_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The journal's table definition."""
    return sa.Table(
        JOURNAL_TABLE,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("batch_no", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("policy_hash", sa.String(64), nullable=False),
        # JSON: counts, fingerprints, started/ended. A 5,000-key batch is ~190 KB: MariaDB needs LONGTEXT.
        sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_seq", sa.Integer, nullable=True, index=True),
        sa.Column("uid", sa.String(32), nullable=True),  # NULL only on rows older than the column
        # Journal v2 (retention batches); NULL on requests' rows and on rows older than the columns.
        sa.Column("table_counts", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("leaf_count", sa.Integer, nullable=True),
        sa.Column("root", sa.LargeBinary(), nullable=True),
        # BLOB stops at 64 KiB on MariaDB (4,096 leaves): LONGBLOB.
        sa.Column(
            "leaves", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=True
        ),
    )


V2_COLUMNS = ("table_counts", "key_id", "leaf_count", "root", "leaves")


_TABLE = journal_table()  # one Table object, so statements on it hit SQLAlchemy's compiled cache
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose journal is known to be current


def ensure_journal(engine: Engine) -> sa.Table:
    """Create the journal table in the store when it is missing, or upgrade an older one; return it.

    Checked once per engine: a request that runs many times in one process does not reflect it each time.
    """
    if engine in _ready:
        return _TABLE
    ensure_table(engine, _TABLE)
    try:
        if _outdated(engine):
            # Under the journal's lock: two runs upgrading at once would add the column twice.
            with exclusive_lock(engine, JOURNAL_TABLE, wait=TRANSFER_WAIT_SECONDS):
                _upgrade(engine)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read or upgrade {JOURNAL_TABLE} in {safe_url(engine.url)} ({exc.__class__.__name__})"
        ) from None
    _ready.add(engine)
    return _TABLE


def _outdated(engine: Engine) -> list[str]:
    """What an existing journal lacks: ``uid`` and the v2 columns (before they existed), ``longtext``
    (MariaDB's TEXT body)."""
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(JOURNAL_TABLE)}
    missing = [name for name in ("uid", *V2_COLUMNS) if name not in columns]
    if engine.dialect.name in ("mysql", "mariadb") and not isinstance(columns["body"], mysql.LONGTEXT):
        missing.append("longtext")
    return missing


def _upgrade_statement(engine: Engine, missing: str) -> str:
    """The DDL that adds one missing piece, in the engine's own type names."""
    if missing == "longtext":
        return f"ALTER TABLE {JOURNAL_TABLE} MODIFY body LONGTEXT NOT NULL"
    kind = _TABLE.c[missing].type.compile(dialect=engine.dialect)
    return f"ALTER TABLE {JOURNAL_TABLE} ADD COLUMN {missing} {kind} NULL"


def _upgrade(engine: Engine) -> None:
    """Bring an older journal to the current definition (re-checked under the lock)."""
    statements = [_upgrade_statement(engine, m) for m in _outdated(engine)]
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    except SQLAlchemyError as exc:
        # Typically a role that may write rows but not alter tables: say what its owner has to run.
        raise StoreError(
            f"cannot upgrade {JOURNAL_TABLE} in {safe_url(engine.url)} ({exc.__class__.__name__}); "
            f"have its owner run: {'; '.join(statements)}"
        ) from None


def record_batch(
    connection: sa.Connection,
    table: sa.Table,
    *,
    run_id: str,
    flow: str,
    rule: str,
    batch_no: int,
    action: str,
    policy_hash: str,
    counts: Mapping[str, int],
    leaves: Sequence[bytes],
    key_id: str,
    span: tuple[str | None, str | None],
    started_at: datetime,
    partition: str | None = None,
) -> int:
    """Insert the v2 journal row of a batch inside the batch's transaction; return its id.

    ``leaves`` are the batch's sorted leaves (``lethe.ledger.leaves``); the row keeps them as one blob with
    their Merkle root. ``span`` holds fingerprints of the span's ends (after, up to; None for an open end).
    ``partition`` (``p<i>of<N>``, ``lethe.retention.partitions``) goes in the body and the ledger entry.
    """
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "v": 2,
        "span": list(span),
        "counts": dict(counts),
        "started_at": started_at.isoformat(),
        "ended_at": now.isoformat(),
    }
    if partition is not None:
        body["partition"] = partition
    text = json.dumps(body, separators=(",", ":"))
    evidence = leaf_columns(counts, leaves, key_id)
    return _insert(connection, table, run_id, flow, rule, batch_no, action, policy_hash, text, now, evidence)


def leaf_columns(counts: Mapping[str, int], leaves: Sequence[bytes], key_id: str) -> dict[str, Any]:
    """The v2 evidence columns of a journal row: counts per table, key id, and the sorted leaves with their
    count, Merkle root and blob."""
    return {
        "table_counts": json.dumps(dict(counts), separators=(",", ":")),
        "key_id": key_id,
        "leaf_count": len(leaves),
        "root": merkle.root(leaves),
        "leaves": pack(leaves),
    }


def record_entry(
    connection: sa.Connection,
    table: sa.Table,
    entry: LedgerEntry,
    *,
    part: int = 1,
    match: Sequence[str] = (),
    evidence: Mapping[str, Any] | None = None,
) -> int:
    """Insert a journal row holding a whole ledger entry (a request's change) inside its transaction.

    ``part`` numbers the rows of one change that spans several stores; ``match`` holds keyed fingerprints
    (of the identifiers that named the subject) by which a retry finds the change (``find_entry``); they
    stay in the journal and are not copied into the ledger. ``evidence`` (``leaf_columns``) holds the
    leaves of the keys the change touched, as a batch's row does; the entry names their root.
    """
    now = datetime.now(UTC)
    text = canonical_json({"entry": signed_body(entry, now), "match": list(match)}).decode("utf-8")
    return _insert(
        connection, table, entry.run_id, entry.flow, entry.rule or "", part, entry.action, entry.policy_hash,
        text, now, evidence,
    )  # fmt: skip


def _insert(
    connection: sa.Connection,
    table: sa.Table,
    run_id: str,
    flow: str,
    rule: str,
    batch_no: int,
    action: str,
    policy_hash: str,
    body: str,
    now: datetime,
    evidence: Mapping[str, Any] | None = None,
) -> int:
    """Insert one journal row with a fresh uid (and a batch's v2 ``evidence`` columns); return its id."""
    result = connection.execute(
        table.insert().values(
            **(evidence or {}),
            run_id=run_id,
            flow=flow,
            rule=rule,
            batch_no=batch_no,
            action=action,
            policy_hash=policy_hash,
            body=body,
            created_at=now,
            uid=uuid.uuid4().hex,
        )
    )
    inserted = result.inserted_primary_key
    if inserted is None:  # pragma: no cover - every supported dialect returns it
        raise StoreError(f"{JOURNAL_TABLE}: the database did not return the new row's id")
    return int(inserted[0])


def find_entry(
    engine: Engine, store: str, *, flow: str, action: str, match: Sequence[str]
) -> tuple[str, LedgerEntry] | None:
    """The latest journalled entry of ``flow``/``action`` that one of ``match`` names: (its reference, entry)."""
    if not match:
        return None
    table = _TABLE
    # The fingerprints are searched in the body's text, then confirmed in its "match" list.
    named = sa.or_(*(table.c.body.contains(f'"{m}"', autoescape=True) for m in match))
    query = sa.select(table).where(table.c.flow == flow, table.c.action == action, named)
    try:
        if not sa.inspect(engine).has_table(JOURNAL_TABLE):
            return None
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(table.c.id.desc())).all()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read {JOURNAL_TABLE} in {safe_url(engine.url)} ({exc.__class__.__name__})"
        ) from None
    for row in rows:
        body = json.loads(row.body)
        if "entry" in body and set(match) & set(body.get("match", ())):
            return journal_ref(store, row), _stored_entry(row.id, body)
    return None


def _stored_entry(row_id: int, body: Mapping[str, Any]) -> LedgerEntry:
    """The ledger entry a request's journal row holds."""
    return parse_body(row_id, json.dumps(body["entry"]))[1]


def _entry(store: str, row: sa.Row[Any]) -> LedgerEntry:
    """The ledger entry of a journal row: a request's whole entry, or a retention batch's facts."""
    body = json.loads(row.body)
    reference: dict[str, str | int] = {"store": store, "journal": journal_ref(store, row)}
    if "entry" in body:
        entry = _stored_entry(row.id, body)
        return replace(entry, details={**entry.details, **reference})
    details: dict[str, str | int | None] = {**reference, "batch": row.batch_no}
    if body.get("v") == 2:
        after, upto = body["span"]
        details.update(
            root=bytes(row.root).hex(), leaf_count=int(row.leaf_count), key_id=row.key_id,
            span_after=after, span_upto=upto,
        )  # fmt: skip
        if "partition" in body:
            details["partition"] = body["partition"]
    return LedgerEntry(
        run_id=row.run_id,
        flow=row.flow,
        policy_hash=row.policy_hash,
        action=row.action,
        outcome="applied",
        started_at=datetime.fromisoformat(body["started_at"]),
        ended_at=datetime.fromisoformat(body["ended_at"]),
        rule=row.rule,
        counts=body["counts"],
        fingerprints=body.get("fingerprints", ()),
        details=details,
    )


def journal_ref(store: str, row: Any) -> str:
    """How a ledger entry names the journal row it copies: ``store:id:uid`` (``store:id`` for older rows)."""
    return f"{store}:{row.id}:{row.uid}" if row.uid else f"{store}:{row.id}"


def transfer_pending(engine: Engine, store: str, ledger: Ledger, *, own_run: str | None = None) -> int:
    """Copy journal rows not yet in the ledger into it, mark them, and return how many were copied
    (with ``own_run``: how many of them another run left, i.e. not this run's concurrent partitions').

    Runs of different rules share the store's journal and each starts by copying what a crashed run left,
    so copying is serialised by a lock on the journal: two runs reading the same unmarked row at once would
    otherwise both append it.
    """
    if engine not in _ready:
        if not sa.inspect(engine).has_table(JOURNAL_TABLE):
            return 0
        ensure_journal(engine)  # an older journal gets the v2 columns the copy reads
    # Nothing pending, nothing to copy: a row committed after this look belongs to a run that copies it.
    with engine.connect() as connection:
        if connection.execute(_PENDING).first() is None:
            return 0
    with exclusive_lock(engine, JOURNAL_TABLE, wait=TRANSFER_WAIT_SECONDS):
        copied = _transfer(engine, store, ledger)
    return len(copied) if own_run is None else sum(1 for run_id in copied if run_id != own_run)


_PENDING = sa.select(_TABLE.c.id).where(_TABLE.c.ledger_seq.is_(None)).limit(1)
# Everything a ledger entry needs, never the leaves: a group of pending batches must not load their blobs.
_COPIED = [c for c in _TABLE.c if c.name != "leaves"]
_MARK_CHUNK = 500  # journal rows marked per UPDATE (its CASE grows with them)


def _transfer(engine: Engine, store: str, ledger: Ledger) -> list[str]:
    """``transfer_pending`` under the journal's lock: one ledger transaction, one marking UPDATE per chunk.

    Returns the run ids of the rows it copied."""
    table = _TABLE
    with engine.connect() as connection:
        pending = connection.execute(
            sa.select(*_COPIED).where(table.c.ledger_seq.is_(None)).order_by(table.c.id)
        ).all()
        last_marked = connection.execute(sa.select(sa.func.max(table.c.ledger_seq))).scalar() or 0
    if not pending:
        return []
    # A crash after the ledger append but before the mark leaves entries already there: find them.
    already: dict[str, int] = {}
    wanted = {journal_ref(store, row) for row in pending}
    for recorded in ledger.entries(since_seq=int(last_marked)):
        ref = recorded.entry.details.get("journal")
        if isinstance(ref, str) and ref in wanted:
            already[ref] = recorded.seq
    missing = [row for row in pending if journal_ref(store, row) not in already]
    for row, recorded in zip(missing, ledger.append_many(_entry(store, row) for row in missing), strict=True):
        already[journal_ref(store, row)] = recorded.seq
    seqs = {row.id: already[journal_ref(store, row)] for row in pending}
    # Before the mark: a crash in between leaves the rows pending, and the next copy finds what is missing.
    copy_leaves(engine, store, ledger, [row for row in pending if row.leaf_count])
    mark_journal(engine, seqs)
    return [row.run_id for row in missing]


_LEAF_CHUNK = 200  # journal rows whose blobs are read and copied per statement


def copy_leaves(engine: Engine, store: str, ledger: Ledger, rows: Sequence[Any]) -> int:
    """Copy the journal rows that hold leaves, blobs included, into the ledger's ``lethe_leaves``.

    The ledger holds each batch's root, not its leaves; a store restored from a backup loses the journal rows
    newer than the backup, and ``lethe replay`` needs their leaves. Rows already copied (by their reference)
    are left as they are, so a copy repeated after a crash adds nothing. Returns how many were added.
    """
    if not rows:
        return 0
    ledger.create_schema()
    wanted = {journal_ref(store, row): row for row in rows}
    added = 0
    refs = sorted(wanted)
    try:
        with ledger.connect() as ledger_connection, ledger_connection.begin():
            for i in range(0, len(refs), _LEAF_CHUNK):
                chunk = refs[i : i + _LEAF_CHUNK]
                have = set(
                    ledger_connection.execute(
                        sa.select(leaves_table.c.ref).where(leaves_table.c.ref.in_(chunk))
                    ).scalars()
                )
                todo = [wanted[ref] for ref in chunk if ref not in have]
                if not todo:
                    continue
                with engine.connect() as connection:
                    blobs = dict(
                        connection.execute(
                            sa.select(_TABLE.c.id, _TABLE.c.leaves).where(
                                _TABLE.c.id.in_([r.id for r in todo])
                            )
                        ).all()
                    )
                copies = [_leaf_copy(store, row, blobs[row.id]) for row in todo]
                ledger_connection.execute(sa.insert(leaves_table), copies)
                added += len(todo)
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"cannot copy journal leaves into the ledger at {ledger.url} ({exc.__class__.__name__})"
        ) from None
    return added


def mark_journal(engine: Engine, seqs: Mapping[int, int]) -> None:
    """Set ``ledger_seq`` of journal rows (id -> seq) in one UPDATE per chunk, in one transaction."""
    table = _TABLE
    ids = sorted(seqs)
    with engine.begin() as connection:
        for i in range(0, len(ids), _MARK_CHUNK):
            chunk = ids[i : i + _MARK_CHUNK]
            seq = sa.case({row_id: seqs[row_id] for row_id in chunk}, value=table.c.id)
            connection.execute(table.update().where(table.c.id.in_(chunk)).values(ledger_seq=seq))


def _leaf_copy(store: str, row: Any, blob: bytes) -> dict[str, Any]:
    """The ``lethe_leaves`` row of a journal row and its blob."""
    copied = {
        name: getattr(row, name) for name in ("run_id", "flow", "rule", "action", "policy_hash", "body")
    }
    copied.update(table_counts=row.table_counts, key_id=row.key_id, leaf_count=row.leaf_count)
    root = None if row.root is None else bytes(row.root)
    return {**copied, "ref": journal_ref(store, row), "store": store, "created_at": aware(row.created_at),
            "root": root, "leaves": bytes(blob)}  # fmt: skip


def aware(moment: datetime) -> datetime:
    """A journal timestamp as an aware UTC datetime (SQLite and MariaDB hand back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
