"""The ledger's entries as one RFC 9162 Merkle tree, so a checkpoint can vouch for all of them at once.

Entry ``seq`` is the leaf ``seq (8 bytes, big-endian) || SHA-256(stored body)`` at index ``seq - 1``; the tree of
the first ``size`` entries has a root (``lethe.ledger.merkle``). A signed checkpoint (``lethe.ledger.checkpoint``)
records that root, and a proof (``lethe.ledger.proof``) carries the audit path of its entry to it: whoever holds
the checkpoint's public key can then check, with ``hashlib`` alone, that an entry was in the ledger when the
checkpoint was signed. The HMAC chain proves the same to whoever holds the ledger key; the tree proves it to
anyone, over the exact stored bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

from lethe.errors import LedgerError, LedgerTamperedError
from lethe.ledger import merkle
from lethe.ledger.chain import ZERO_MAC, Ledger


def stored_bytes(body: str | bytes | bytearray | memoryview) -> bytes:
    """The bytes of a stored body, as the database returns it (text is UTF-8)."""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def entry_leaf(seq: int, body: bytes) -> bytes:
    """The leaf of entry ``seq`` in the ledger's tree: its seq and the SHA-256 of its stored body."""
    return seq.to_bytes(8, "big") + sha256(body).digest()


@dataclass(frozen=True)
class LedgerTree:
    """The leaves of the first ``size`` entries, and the MAC stored with entry ``size`` (zeros for none)."""

    leaves: tuple[bytes, ...]
    head_mac: str

    @property
    def size(self) -> int:
        """How many entries the tree holds."""
        return len(self.leaves)

    def root(self) -> bytes:
        """The tree's root."""
        return merkle.root(self.leaves)

    def path(self, seq: int) -> list[bytes]:
        """The audit path of entry ``seq``."""
        return merkle.audit_path(self.leaves, seq - 1)


def read_tree(ledger: Ledger, size: int) -> LedgerTree:
    """The tree of the ledger's first ``size`` entries; LedgerTamperedError when one of them is missing.

    Reads the rows as stored, without checking MACs (``verify_ledger`` does that): the tree is over the bytes
    that are there.
    """
    if size < 0:
        raise LedgerError(f"a ledger tree cannot have {size} entries")
    ledger.create_schema()
    leaves: list[bytes] = []
    mac = ZERO_MAC.hex()
    for row in ledger.rows(0, size):
        seq = len(leaves) + 1
        if int(row.seq) != seq:
            raise LedgerTamperedError(f"entry {seq} is missing (the next stored entry is {int(row.seq)})")
        leaves.append(entry_leaf(seq, stored_bytes(row.body)))
        mac = str(row.mac)
    if len(leaves) < size:
        raise LedgerTamperedError(
            f"the ledger ends at entry {len(leaves)}, before entry {size}: entries were removed or rolled back"
        )
    return LedgerTree(tuple(leaves), mac)
