"""The evidence ledger: what every run did, in a tamper-evident chain, and the store journals that feed it.

``Ledger`` appends entries under an HMAC chain and reads them back; ``verify_ledger`` walks the chain and names
the first change; a change to a store is journalled in the store's own transaction (``lethe.ledger.journal``)
and copied into the ledger after its commit, so a crash never loses evidence. ``lethe.ledger.keys`` registers the
keys in use and refuses a changed one; ``lethe.ledger.tables`` declares the tables (docs/ledger.md).
A retention batch's journal row holds its keys' leaves and their Merkle root (``lethe.ledger.leaves``, ``lethe.ledger.merkle``); the ledger's
entries form a tree of their own (``lethe.ledger.history``) whose root a signed checkpoint vouches for
(``lethe.ledger.checkpoint``); ``lethe.ledger.prove`` builds one key's proof (``lethe.ledger.proof``) and
``lethe.ledger.deep`` matches every batch root to its journal.
"""

from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, RecordedEntry
from lethe.ledger.verify import VerifyReport, verify_ledger, verify_or_raise

__all__ = ["Ledger", "LedgerEntry", "RecordedEntry", "VerifyReport", "verify_ledger", "verify_or_raise"]
