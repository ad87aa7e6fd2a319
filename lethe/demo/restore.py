"""The demo's backup and restore: a copy of the SQLite demo store before the flows change it, restored later
into a second file on which ``lethe replay`` re-applies what the flows did (``flows/demo.py``).

Only for the demo's SQLite store (``LETHE_DEMO_URL`` left at its default): a copy made with SQLite's
backup API, so it is consistent even while another connection is open. ``data_digest`` hashes every table
but Lethe's own (``lethe_*``), to show that the replayed copy holds what the store held. Counts and a hash
only: nothing here prints a value.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from lethe.demo.setup import DEMO_DIR
from lethe.stores.engines import create_store_engine

BACKUP = DEMO_DIR / "shop-backup.db"
RESTORED = DEMO_DIR / "shop-restored.db"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL; None for any other database."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def copy_database(source: Path, target: Path) -> Path:
    """Copy a SQLite database file with the backup API (consistent while others have it open)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def data_digest(url: str) -> str:
    """SHA-256 over every table but Lethe's own, rows in key order."""
    engine = create_store_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        digest = hashlib.sha256()
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                if table.name.startswith("lethe_"):
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                digest.update(table.name.encode())
                for row in connection.execute(sa.select(table).order_by(*order)):
                    digest.update(repr(tuple(row)).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()
