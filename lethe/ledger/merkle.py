"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them, over SHA-256.

A retention batch or a request changes a set of keys; each key becomes a *leaf* (``lethe.ledger.leaves``), and
the batch's evidence is the root of the Merkle tree over its sorted leaves. The hashing is RFC 9162 section 2.1:

* the tree of no leaves has root ``SHA-256()``;
* a leaf's hash is ``SHA-256(0x00 || leaf)``;
* an interior node's hash is ``SHA-256(0x01 || left || right)``, where the left subtree holds the largest power
  of two of leaves smaller than the tree's size.

The domain separation (0x00 / 0x01) means no interior node can pass for a leaf. The functions below compute the
tree bottom-up (pairing neighbours and promoting an odd last node), which builds exactly the RFC's tree and runs in
a tight loop: a 250,000-leaf root costs about half a million SHA-256 calls, no recursion.

An *audit path* (RFC 9162 2.1.3) proves that one leaf is in a tree of a given size and root, without the other
leaves; ``root_from_path`` is the RFC's verification algorithm and needs nothing but ``hashlib``.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

HASH_SIZE = 32
_LEAF = b"\x00"
_NODE = b"\x01"

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 hash of one leaf."""
    return sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 hash of an interior node."""
    return sha256(_NODE + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    """One level up: neighbours paired, an odd last node promoted unchanged."""
    pairs = [sha256(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        pairs.append(level[-1])
    return pairs


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (root) of ``leaves``, in the order given."""
    if not leaves:
        return EMPTY_ROOT
    level = [sha256(_LEAF + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def audit_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 9162 2.1.3.1), sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    level = [sha256(_LEAF + leaf).digest() for leaf in leaves]
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        # else: i is an odd last node, promoted without a sibling at this level
        level = _next_level(level)
        i //= 2
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` proves for ``leaf`` at ``index`` in a tree of ``size`` leaves (RFC 9162 2.1.3.2).

    Returns None when the path cannot belong to such a tree (wrong length, index out of range); a caller compares
    the result with the root it trusts.
    """
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None
