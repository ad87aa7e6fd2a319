"""Backups and restores of a whole store for the replay tests, and a hash of its data without Lethe's tables.

``backup`` copies every table's rows (Lethe's journal included, as a backup of the database would);
``restore`` empties every table and puts the copied rows back, parents before children, on any engine. The
rows Lethe changed after the backup come back with it: what ``lethe replay`` must then re-apply.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

Backup = dict[str, list[dict[str, Any]]]


def _tables(engine: sa.Engine) -> list[sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return list(metadata.sorted_tables)


def backup(engine: sa.Engine) -> Backup:
    """Every row of every table, by table name."""
    copied: Backup = {}
    with engine.connect() as connection:
        for table in _tables(engine):
            copied[table.name] = [dict(r._mapping) for r in connection.execute(sa.select(table))]
    return copied


def restore(engine: sa.Engine, copied: Backup) -> None:
    """Replace every table's rows with the backup's (tables the backup lacks are emptied)."""
    tables = _tables(engine)
    with engine.begin() as connection:
        for table in reversed(tables):
            connection.execute(sa.delete(table))
        for table in tables:
            if copied.get(table.name):
                connection.execute(sa.insert(table), copied[table.name])


def data_hash(engine: sa.Engine) -> dict[str, str]:
    """SHA-256 of each table's rows in key order, every table but Lethe's own (``lethe_*``)."""
    hashes: dict[str, str] = {}
    with engine.connect() as connection:
        for table in _tables(engine):
            if table.name.startswith("lethe_"):
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            rows = [tuple(r) for r in connection.execute(sa.select(table).order_by(*order))]
            hashes[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return hashes
