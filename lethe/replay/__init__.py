"""Replay after restore: re-apply every journalled erasure and retention change to a store restored from a backup.

Restoring a backup brings back rows that were erased or expired after it was taken. ``replay`` finds the
journal rows since an instant (``lethe.replay.sources``: the ledger-side copies in ``lethe_leaves``, which
survive the restore, and the restored journal), scans the tables' current primary keys, computes their keyed
leaves and re-applies the original change to the rows whose leaf a journal row holds (``lethe.replay.apply``):
never a plain key from anywhere but the store itself. The replay is journalled and ledgered like a run.
"""

from lethe.replay.apply import ReplayResult, TableReplay, replay

__all__ = ["ReplayResult", "TableReplay", "replay"]
