"""Partitions: a rule over a large table split into primary-key ranges enforced concurrently.

A rule with ``partitions: N`` (policy), ``--partitions N`` (``lethe retention enforce``) or the flow's
``partitions`` parameter is split into N ranges of its primary key, ``lower < pk <= upper`` (the first open
below, the last open above, so together they cover every key, whatever was inserted since). Each range is
enforced like a whole rule (``lethe.retention.enforce.enforce_partition``): its own lock
(``retention:<store>:<rule>:p<i>of<N>``), its own spans and journal rows (the body and the ledger entry say
``partition: p<i>of<N>``), so two runs never take the same partition and a killed one loses nothing another
did. ``finish_partitioned`` then copies what is left to the ledger, counts what is still pending over the
whole rule once, and records one rule entry adding up its partitions.

Bounds come from the primary-key index alone, never from the pending predicate (``split_keys``):

* a one-column integer key: its ``MIN`` and ``MAX`` (two index probes), split into N equal ranges of values.
  Cheap at any size; even when keys are dense (autoincrement ids), uneven when they are clustered;
* any other key: the table's rows counted, then the key at every N-th quantile read by ``OFFSET`` on the
  index (N-1 index walks: seconds on tens of millions of rows, balanced whatever the keys).

Bounds are primary-key values. The flow passes them between task runs sealed (``seal``: AES-GCM under a key
derived from the master key, bound to the store and rule), so no plain key reaches Prefect's database; each
partition task opens its own (``open_sealed``). Bounds are computed once per run: computed again by each
partition while others delete rows, they would move. A later run with the same N computes them afresh: its
ranges differ from the last run's, and still cover every key, so it completes whatever a killed partition
left. Runs of one rule should use one N (the policy's ``partitions:`` pins it): runs with different N hold
differently named locks over overlapping ranges; each batch re-reads the pending predicate under row locks,
so a row is still handled once, but the two runs wait on each other's rows.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import derive_key
from lethe.errors import LetheError, ParameterError
from lethe.policy.model import RetentionRule
from lethe.policy.retention import MAX_PARTITIONS
from lethe.retention.run import RetentionRun, store_error
from lethe.retention.sql import RuleSql, build_rule_sql

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Partition:
    """Partition ``index`` (1-based) of ``count``: the keys ``lower < pk <= upper`` (None: open end)."""

    index: int
    count: int
    lower: Key | None = None
    upper: Key | None = None
    empty: bool = False  # a partition with no range (fewer distinct keys than partitions): nothing to walk

    @property
    def label(self) -> str:
        """``p<i>of<N>``: in lock names, journal bodies and ledger details."""
        return f"p{self.index}of{self.count}"


def partition_count(rule: RetentionRule, override: int | None) -> int:
    """How many partitions a rule runs in: the command's or flow's ``override``, else the rule's, else 1."""
    count = override or rule.partitions or 1
    if not 1 <= count <= MAX_PARTITIONS:
        raise ParameterError(f"partitions must be between 1 and {MAX_PARTITIONS}, not {count}")
    return count


def split_rule(run: RetentionRun, rule: RetentionRule, count: int) -> list[Partition]:
    """The rule's ``count`` partitions, bounds read from its table's primary-key index now."""
    if count < 1:
        raise ParameterError("partitions must be at least 1")
    sql = build_rule_sql(run.policy, run.stores, rule, run.as_of, run.settings)
    engine = run.stores.engine(rule.table.store)
    try:
        with engine.connect() as connection:
            cuts = split_keys(connection, sql, count)
    except SQLAlchemyError as exc:
        raise store_error(rule, "reading partition bounds", exc) from None
    ends: list[Key | None] = [None, *cuts, None]
    # Fewer distinct cuts than asked (a small table, few keys) still makes exactly ``count`` partitions:
    # the missing ones are empty ranges, so every label a run expects exists and its lock is taken.
    parts = [Partition(i + 1, count, ends[i], ends[i + 1]) for i in range(len(ends) - 1)]
    parts += [Partition(i + 1, count, empty=True) for i in range(len(parts), count)]
    return parts


def split_keys(connection: sa.Connection, sql: RuleSql, count: int) -> list[Key]:
    """Up to ``count - 1`` increasing primary keys cutting the table into ``count`` ranges (index only)."""
    if count <= 1:
        return []
    if len(sql.pk) == 1 and _integer(sql.pk[0]):
        column = sql.pk[0]
        low, high = connection.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
        if low is None:
            return []
        # Integer arithmetic: a float step loses precision on 64-bit keys.
        values = sorted({int(low) + (int(high) - int(low)) * i // count for i in range(1, count)})
        return [(v,) for v in values if int(low) <= v < int(high)]
    total = connection.execute(sa.select(sa.func.count()).select_from(sql.table)).scalar() or 0
    cuts: list[Key] = []
    for i in range(1, count):
        offset = total * i // count - 1
        if offset < 0:
            continue
        query = sa.select(*sql.pk).order_by(*sql.pk).limit(1).offset(offset)
        row = connection.execute(query).first()
        if row is not None and (not cuts or tuple(row) != cuts[-1]):
            cuts.append(tuple(row))
    return cuts


def _integer(column: sa.Column[Any]) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


# --- sealing: bounds between task runs without a plain key in the orchestrator ---------------------------------


def _aead(master: bytes) -> AESGCM:
    return AESGCM(derive_key(master, "retention-partition-bounds"))


def seal(master: bytes, store: str, rule: str, partition: Partition) -> str:
    """The partition as an opaque token (AES-GCM, bound to store and rule): safe as a Prefect parameter."""
    body = json.dumps(
        {
            "i": partition.index,
            "n": partition.count,
            "lo": _encode(partition.lower),
            "hi": _encode(partition.upper),
            "e": partition.empty,
        },
        separators=(",", ":"),
    ).encode()
    nonce = os.urandom(12)
    sealed = nonce + _aead(master).encrypt(nonce, body, f"{store}\x1f{rule}".encode())
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_sealed(master: bytes, store: str, rule: str, token: str) -> Partition:
    """The partition a ``seal`` token holds; LetheError when it was made for another rule or key, or altered."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        body = json.loads(_aead(master).decrypt(raw[:12], raw[12:], f"{store}\x1f{rule}".encode()))
    except (InvalidTag, ValueError, UnicodeError):
        raise LetheError(
            f"retention.{rule}: a partition token that is not this rule's (or altered)"
        ) from None
    return Partition(
        int(body["i"]), int(body["n"]), _decode(body["lo"]), _decode(body["hi"]), bool(body["e"])
    )


_TAGS: dict[str, Any] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "decimal": Decimal,
    "uuid": UUID,
    "bytes": bytes.fromhex,
}


def _encode(key: Key | None) -> list[Any] | None:
    if key is None:
        return None
    out: list[Any] = []
    for value in key:
        if value is None or isinstance(value, bool | int | float | str):
            out.append(value)
        elif isinstance(value, datetime | date):
            out.append({"t": type(value).__name__, "v": value.isoformat()})
        elif isinstance(value, Decimal | UUID):
            out.append({"t": type(value).__name__.lower(), "v": str(value)})
        elif isinstance(value, bytes | memoryview):
            out.append({"t": "bytes", "v": bytes(value).hex()})
        else:
            raise LetheError(f"a primary key of type {type(value).__name__} cannot bound a partition")
    return out


def _decode(values: list[Any] | None) -> Key | None:
    if values is None:
        return None
    return tuple(_TAGS[v["t"]](v["v"]) if isinstance(v, dict) else v for v in values)
