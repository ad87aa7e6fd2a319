"""Leaves: the keyed hash of one changed primary key, as a batch's Merkle tree (``lethe.ledger.merkle``) holds it.

A leaf is ``HMAC-SHA256(k_table, encode(key))`` truncated to ``LEAF_SIZE`` (16) bytes, where ``k_table`` is
derived from the master key for one ``store.table`` (HKDF, purpose ``lethe/leaf/v1/<store>.<table>``, the table
as the policy names it, ``schema.table`` included where it has a schema). 128 bits
keep keys of one table apart (a keyed hash: nobody without the key can search for collisions) and halve the
journal's blob against 32.

``encode`` is canonical and engine-independent: each part of a key gets a one-byte type tag, so the integer 5
and the text "5" give different leaves, whichever database returned them:

* ``i`` + decimal digits (ints, and integral Decimals, which MariaDB/PostgreSQL hand back for NUMERIC keys);
* ``s`` + UTF-8 (text; UUIDs as their canonical lower-case text, PostgreSQL returns ``uuid.UUID``);
* ``b`` + raw bytes; ``d`` + a non-integral Decimal's normalised text; ``t`` + ISO 8601 of dates and times;
  ``n`` for NULL.

A single-column key is its one part; a composite key is its parts each as tag, 4-byte big-endian length,
payload. A table's keys always have the same number of columns, so the two forms never meet.

A batch's leaves are sorted (bytes order) and stored as one blob, the leaves concatenated (``pack``/``unpack``).
"""

from __future__ import annotations

import functools
import hmac
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from hashlib import sha256

from lethe.crypto import derive_key

LEAF_SIZE = 16
_PURPOSE = "lethe/leaf/v1/"


@functools.lru_cache(maxsize=64)
def table_key(master_key: bytes, store: str, table: str) -> bytes:
    """The leaf key of ``store.table``, derived once per process."""
    return derive_key(master_key, f"{_PURPOSE}{store}.{table}")


def encode_part(value: object) -> bytes:
    """The canonical bytes of one key column's value (see the module docstring)."""
    if value is None:
        return b"n"
    if isinstance(value, bool):  # before int: True is an int
        return b"i" + str(int(value)).encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, str):
        return b"s" + value.encode("utf-8")
    if isinstance(value, uuid.UUID):
        return b"s" + str(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + bytes(value)
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return b"i" + str(int(value)).encode()
        return b"d" + str(value.normalize()).encode()
    if isinstance(value, datetime | date | time):
        return b"t" + value.isoformat().encode()
    raise TypeError(f"a primary key of type {type(value).__name__} has no canonical leaf encoding")


def encode_key(key: Sequence[object]) -> bytes:
    """The canonical bytes of a whole key tuple."""
    if len(key) == 1:
        return encode_part(key[0])
    parts = [encode_part(v) for v in key]
    return b"".join(p[:1] + (len(p) - 1).to_bytes(4, "big") + p[1:] for p in parts)


class _Hmac:
    """HMAC-SHA256 under one key with its padded inner and outer states hashed once (RFC 2104).

    Copying two prepared ``hashlib`` states per message is about twice as fast as ``hmac.digest`` or
    ``hmac.HMAC.copy`` for the short messages keys make, and gives the same bytes.
    """

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")  # keys are 32 bytes, shorter than SHA-256's block
        self.inner = sha256(bytes(b ^ 0x36 for b in block))
        self.outer = sha256(bytes(b ^ 0x5C for b in block))


def leaf_maker(master_key: bytes, store: str, table: str) -> Callable[[Sequence[object]], bytes]:
    """A function from a key tuple to its leaf, for one table."""
    key = table_key(master_key, store, table)

    def leaf(k: Sequence[object]) -> bytes:
        return hmac.digest(key, encode_key(k), "sha256")[:LEAF_SIZE]

    return leaf


def leaves_of(master_key: bytes, store: str, table: str, keys: Iterable[Sequence[object]]) -> list[bytes]:
    """The sorted leaves of ``keys`` (key tuples) of ``store.table``."""
    return _leaves(table_key(master_key, store, table), (encode_key(k) for k in keys))


def leaves_of_scalars(master_key: bytes, store: str, table: str, values: Iterable[object]) -> list[bytes]:
    """``leaves_of`` for a single-column key given as bare values (a fast path: ints need no tuple)."""
    messages = (b"i%d" % v if type(v) is int else encode_part(v) for v in values)
    return _leaves(table_key(master_key, store, table), messages)


def _leaves(key: bytes, messages: Iterable[bytes]) -> list[bytes]:
    """Sorted truncated HMACs of ``messages``."""
    mac = _Hmac(key)
    inner, outer = mac.inner.copy, mac.outer.copy
    out: list[bytes] = []
    append = out.append
    for message in messages:
        i = inner()
        i.update(message)
        o = outer()
        o.update(i.digest())
        append(o.digest()[:LEAF_SIZE])
    out.sort()
    return out


def pack(leaves: Sequence[bytes]) -> bytes:
    """One blob of fixed-size leaves (already sorted)."""
    return b"".join(leaves)


def unpack(blob: bytes) -> list[bytes]:
    """The leaves of a blob; a blob whose length is not a multiple of ``LEAF_SIZE`` is an error."""
    if len(blob) % LEAF_SIZE:
        raise ValueError(f"a leaf blob of {len(blob)} bytes is not a whole number of {LEAF_SIZE}-byte leaves")
    return [blob[i : i + LEAF_SIZE] for i in range(0, len(blob), LEAF_SIZE)]


def digest_of(blob: bytes) -> str:
    """SHA-256 of a blob in hex (what a ledger entry can name without holding the leaves)."""
    return sha256(blob).hexdigest()
